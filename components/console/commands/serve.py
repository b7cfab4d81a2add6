"""`floorline serve`: the LAN status page, the component's Run command."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import Any

from rich.console import Console

from components.console import config as console_config
from components.console import serve
from components.console.commands.common import Flags, Handler, config_flags, device
from components.console.config import ConsoleSettings
from components.console.levels import EXIT_CANNOT_RUN, EXIT_OK
from components.core import component_state, ipc
from components.core.clock import Clock
from components.core.config import ConfigHolder
from components.core.stopping import Stop
from components.core.tls import TlsConfigError

log = logging.getLogger("floorline.console")


def add_to(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "serve", parents=[flags.common], help="the LAN status page: /status (HTML) and /status.json"
    )
    p.add_argument("--bind", default=None, help="address (default bindAddress)")
    p.add_argument("--port", type=int, default=None, help="port (default port)")


def run_serve(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    """The component's Run command: the page, on the configuration in force (from the nucleus
    under Greengrass, where updates apply without a restart; else from the file)."""
    logging.getLogger().setLevel(logging.INFO)
    gg = ipc.connect() if getattr(args, "config", None) is None else None
    holder = ConfigHolder(console_config.SPEC, console_config.read(*config_flags(args)))
    if gg is not None:
        holder = ipc.load_config(console_config.SPEC, gg)
        ipc.follow_updates(holder, gg)
        gg.report_running()
    stop = Stop().on_signals(signal.SIGTERM)  # how the nucleus stops components
    dev = device(args)
    state = component_state.Reporter(holder.current.logPath, "Console", clock)
    state.running()
    log.info("event=started component=console device=%s nucleus=%s", dev, gg is not None)
    try:
        code = serve.run(
            holder,
            dev,
            clock,
            stop,
            bind=args.bind or holder.current.bindAddress,
            port=holder.current.port if args.port is None else args.port,
        )
        state.stopped()
        return code
    except KeyboardInterrupt:
        log.info("event=status_page_stopped reason=interrupt")
        state.stopped("interrupted")
        return EXIT_OK
    except (OSError, TlsConfigError) as exc:  # ssl.SSLError is an OSError
        out.print(
            f"[bold red]FAIL[/] cannot serve: {exc}\n  remedy: set bindAddress/port "
            "to a free address and port; tlsCertPath and tlsKeyPath to a readable "
            "certificate and its key (or both empty)"
        )
        state.failed(f"cannot serve: {exc}")
        return EXIT_CANNOT_RUN
    finally:
        if gg is not None:
            gg.close()


HANDLERS: dict[tuple[str, str | None], Handler] = {("serve", None): run_serve}
