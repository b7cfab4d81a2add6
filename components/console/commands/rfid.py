"""`floorline rfid test`: frames from a serial RFID reader as they arrive."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from rich.console import Console

from components.console import hardware
from components.console.commands.common import Flags, Handler, Parser
from components.console.config import ConsoleSettings
from components.console.levels import EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_OK, EXIT_WARN
from components.core.clock import Clock
from components.lib.frames.models import MODELS as RFID_MODELS
from components.lib.frames.models import VARIANTS as RFID_VARIANTS

log = logging.getLogger("floorline.console")


def add_to(sub: Any, flags: Flags) -> None:
    rfid = sub.add_parser("rfid", help="the serial RFID readers").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    rt = rfid.add_parser(
        "test",
        parents=[flags.common],
        help="frames as they arrive: checksum good or bad, decoded tags",
    )
    rt.add_argument(
        "--port",
        required=True,
        help="serial port or URL (/dev/serial0, /dev/ttyUSB0, socket://host:port)",
    )
    rt.add_argument("--model", choices=sorted(RFID_MODELS), default="rdm6300")
    rt.add_argument(
        "--variant", choices=sorted(RFID_VARIANTS), default="m100", help="UHF reader variant"
    )
    rt.add_argument("--baud", type=int, default=None, help="default: the model's")
    rt.add_argument("--seconds", type=float, default=30.0, help="how long to listen")
    rt.add_argument("--count", type=int, default=0, help="stop after N good reads (0: no limit)")


def rfid_test(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    from components.core import buses

    probe = hardware.ReaderProbe(args.model, args.variant)
    baud = args.baud or RFID_MODELS[args.model][1]
    try:
        port = buses.open_serial(args.port, baud, timeout_s=0.2)
    except (OSError, ValueError) as exc:  # SerialException is an OSError
        out.print(
            f"[bold red]FAIL[/] cannot open {args.port}: {exc}\n  remedy: check the "
            "port name (ls /dev/serial/by-id) and that this user is in 'dialout'"
        )
        return EXIT_CANNOT_RUN
    out.print(f"listening on {args.port} ({args.model}, {baud} baud) for {args.seconds:g} s...")
    deadline = clock.monotonic_ns() + int(args.seconds * 1e9)
    tags = 0  # good reads (a tag held at the antenna is read many times)
    distinct: set[str] = set()
    next_poll = 0
    try:
        while clock.monotonic_ns() < deadline and not (args.count and tags >= args.count):
            if probe.needs_polling and clock.monotonic_ns() >= next_poll:
                port.write(probe.poll_command())
                next_poll = clock.monotonic_ns() + 200_000_000
            data = port.read(256)
            for ev in probe.feed(data) if data else ():
                if ev.tag is not None:
                    tags += 1
                    distinct.add(ev.tag.tag_id)
                    rssi = f"  rssi {ev.tag.rssi_dbm} dBm" if ev.tag.rssi_dbm is not None else ""
                    out.print(
                        f"[green]GOOD[/] tag {ev.tag.tag_id}  checksum ok  "
                        f"frame {ev.tag.raw.hex()}{rssi}"
                    )
                else:
                    out.print(f"[yellow]BAD[/]  {ev.count} x {ev.reject}")
    except KeyboardInterrupt:
        log.info("event=rfid_test_stopped tags=%d", tags)
    finally:
        port.close()
    stats = probe.decoder.stats.as_dict()
    shown = ", ".join(sorted(distinct)[:5]) + (", ..." if len(distinct) > 5 else "")
    out.print(
        f"{len(distinct)} distinct tag{'s' if len(distinct) != 1 else ''}"
        f"{f' ({shown})' if distinct else ''} in {tags} good reads, {probe.frames} good "
        f"frames, rejects {stats['rejects'] or 'none'}, {stats['bytes_in']} bytes read",
        highlight=False,
    )
    if tags == 0:
        out.print(
            "[bold red]FAIL[/] no tag decoded\n  remedy: hold a tag at the antenna; "
            "check --model and --baud, the wiring (reader TX to Pi RX) and power"
        )
        return EXIT_FAIL
    return EXIT_WARN if probe.rejects else EXIT_OK


HANDLERS: dict[tuple[str, str | None], Handler] = {("rfid", "test"): rfid_test}
