"""`floorline status`: one screen, is all well?"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from components.console import status
from components.console.commands.common import Flags, Handler, device, print_json
from components.console.config import ConsoleSettings
from components.console.levels import Level, exit_code
from components.console.term import render
from components.console.views import status_tables
from components.core.clock import Clock


def add_to(sub: Any, flags: Flags) -> None:
    sub.add_parser("status", parents=[flags.common, flags.as_json], help="one screen: is all well?")


def show_status(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    report = status.build_status(status.gather(cfg, clock, device(args)), cfg)
    level = Level[report["level"]]
    if args.json:
        print_json(out, report)
    else:
        render(
            out,
            status_tables(report),
            f"floorline {report['device']} (site {report['site']})",
            level,
        )
    return exit_code([level])


HANDLERS: dict[tuple[str, str | None], Handler] = {("status", None): show_status}
