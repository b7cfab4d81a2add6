"""`floorline`: the technician's console on the device. Works with no cloud connection.

Exit codes (see components/console/levels.py): 0 OK, 1 warnings, 2 failures, 3 could not
run, 64 wrong usage. Each command group is a module of components/console/commands; this
module assembles them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console

from components.console import config as console_config
from components.console.commands import (
    buffer,
    doctor,
    led,
    query,
    rfid,
    sensors,
    serve,
    status,
    token,
)
from components.console.commands.common import Flags, Handler, Parser, config_flags
from components.console.config import ConsoleSettings
from components.console.levels import EXIT_CANNOT_RUN
from components.console.logview import LogUnavailable
from components.core.clock import Clock, SystemClock
from components.core.config import ConfigError

# In the order `floorline --help` lists them.
GROUPS = (status, buffer, led, sensors, rfid, doctor, serve, token, query)
HANDLERS: dict[tuple[str, str | None], Handler] = {
    key: handler for group in GROUPS for key, handler in group.HANDLERS.items()
}


def _parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="console configuration (JSON); default "
        f"${console_config.CONFIG_FILE_ENV} or "
        f"{console_config.DEFAULT_CONFIG_FILE}",
    )
    common.add_argument("--log", default=argparse.SUPPRESS, help="the log file (logPath)")
    common.add_argument(
        "--device", default=argparse.SUPPRESS, help="thing name (default $AWS_IOT_THING_NAME)"
    )
    as_json = Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of tables")

    p = Parser(
        prog="floorline",
        parents=[common],
        description="floorline on-device console (no cloud needed). "
        "Exit codes: 0 OK, 1 warnings, 2 failures, 3 could not run.",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    flags = Flags(common, as_json)
    for group in GROUPS:
        group.add_to(sub, flags)
    return p


def _config(args: argparse.Namespace) -> ConsoleSettings:
    return console_config.load(*config_flags(args))


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Clock | None = None,
    console: Console | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    args = _parser().parse_args(argv)
    out = console or Console()
    clock = clock or SystemClock()
    args.sleep = sleep or time.sleep  # injected: tests drive virtual time
    try:
        if args.command == "token":
            return token.make_token(out)
        cfg = _config(args)
        handler = HANDLERS[(args.command, getattr(args, "action", None))]
        return handler(args, cfg, clock, out)
    except (ConfigError, console_config.ConfigFileError) as exc:
        out.print(f"[bold red]configuration:[/] {exc}")
        return EXIT_CANNOT_RUN
    except LogUnavailable as exc:
        out.print(f"[bold red]FAIL[/] {exc}\n  remedy: {exc.remedy}")
        return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
