"""`floorline sensors scan|watch`: the I2C sensors."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from rich.console import Console
from rich.markup import escape as rich_escape

from components.console import hardware
from components.console.commands.common import Flags, Handler, Parser
from components.console.config import ConsoleSettings
from components.console.levels import EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_OK, Level, exit_code, overall
from components.console.term import render
from components.console.views import Row, Table, fmt_reading, fmt_wall
from components.core.clock import Clock

log = logging.getLogger("floorline.console")


def add_to(sub: Any, flags: Flags) -> None:
    sens = sub.add_parser("sensors", help="the I2C sensors").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    bus_arg = Parser(add_help=False)
    bus_arg.add_argument(
        "--bus",
        default=None,
        help="I2C adapter number, or 'sim' (default 1; $FLOORLINE_I2C_BUS wins)",
    )
    scan = sens.add_parser(
        "scan",
        parents=[flags.common, bus_arg],
        help="sweep the bus, identify chips, read each once (initialising it with the "
        "drivers' default options: stop the sensors component first if it is running)",
    )
    scan.add_argument(
        "--identify-only",
        action="store_true",
        help="only sweep and identify (safe while the sensors component runs)",
    )
    watch = sens.add_parser("watch", parents=[flags.common, bus_arg], help="live values")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between readings")
    watch.add_argument("--count", type=int, default=0, help="stop after N rounds (0: Ctrl-C)")


def _open_bus(args: argparse.Namespace, clock: Clock, out: Console) -> Any:
    from components.core import buses

    try:
        return buses.open_i2c(args.bus, clock=clock)
    except (OSError, buses.BusConfigError) as exc:
        out.print(
            f"[bold red]FAIL[/] cannot open the I2C bus: {exc}\n  remedy: enable I2C "
            "(floorline doctor), or --bus N for another adapter"
        )
        return None


def _reading_text(reading: dict[str, Any] | None) -> str:
    if not reading:
        return "-"
    return "  ".join(fmt_reading(k, v) for k, v in reading.items())


def sensors_scan(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    bus = _open_bus(args, clock, out)
    if bus is None:
        return EXIT_CANNOT_RUN
    with out.status("scanning 0x08-0x77..."):
        rows = hardware.scan_and_read(bus, args.sleep, read=not args.identify_only)
    table = Table(
        "I2C scan", ["address", "chip", "id", "stream", "reading"], text_columns=frozenset({2, 4})
    )
    for r in rows:
        level = (
            Level.FAIL
            if r.error
            else (
                Level.OK
                if r.reading is not None or (args.identify_only and r.stream)
                else Level.WARN
            )
        )
        table.rows.append(
            Row(
                [
                    f"0x{r.address:02x}",
                    r.chip,
                    r.detail or "-",
                    r.stream or "-",
                    r.error or _reading_text(r.reading),
                ],
                level,
            )
        )
    if not rows:
        table.rows.append(
            Row(
                ["-", "no chip answered", "-", "-", "check wiring and power; floorline doctor"],
                Level.FAIL,
            )
        )
    table.level = overall(r.level for r in table.rows if r.level is not None)
    render(out, [table])
    return exit_code([table.level])


def sensors_watch(
    args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console
) -> int:
    bus = _open_bus(args, clock, out)
    if bus is None:
        return EXIT_CANNOT_RUN
    rows = [r for r in hardware.scan_and_read(bus, args.sleep) if r.driver is not None]
    if not rows:
        out.print("[bold red]FAIL[/] no known chip on the bus (floorline sensors scan)")
        return EXIT_FAIL
    rounds = 0
    try:
        while True:
            for r in hardware.read_all(rows):
                value = f"[red]{r.error}[/]" if r.error else rich_escape(_reading_text(r.reading))
                out.print(f"{fmt_wall(clock.wall_ms())}  {r.stream}  {value}")
            rounds += 1
            if args.count and rounds >= args.count:
                break
            args.sleep(args.interval)
    except KeyboardInterrupt:
        log.info("event=watch_stopped rounds=%d", rounds)
    return EXIT_OK


HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("sensors", "scan"): sensors_scan,
    ("sensors", "watch"): sensors_watch,
}
