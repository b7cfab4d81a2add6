"""`floorline doctor`: check the machine (buses, groups, disk, clock, Greengrass, broker)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from components.console import doctor
from components.console.commands.common import Flags, Handler, device, print_json
from components.console.config import ConsoleSettings
from components.console.levels import exit_code
from components.console.logview import LogUnavailable, open_log
from components.console.term import render
from components.console.views import doctor_table
from components.core.clock import Clock


def add_to(sub: Any, flags: Flags) -> None:
    sub.add_parser(
        "doctor",
        parents=[flags.common, flags.as_json],
        help="check the machine: buses, groups, disk, clock, Greengrass, broker",
    )


def run_doctor(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    stats, problem = None, None
    try:
        lg = open_log(cfg, clock, device(args))
        try:
            stats = lg.stats()
        finally:
            lg.close()
    except LogUnavailable as exc:
        problem = str(exc)
    with out.status("checking..."):
        results = doctor.run_checks(doctor.gather(cfg, stats, problem))
    if args.json:
        print_json(out, [r.to_dict() for r in results])
    else:
        table = doctor_table(results)
        render(out, [table])
    return exit_code(r.level for r in results)


HANDLERS: dict[tuple[str, str | None], Handler] = {("doctor", None): run_doctor}
