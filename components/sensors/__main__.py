"""`python -m components.sensors [run|scan] --config FILE`

run  read the configured sensors into the durable log until stopped (SIGTERM/SIGINT)
scan sweep the I2C bus and name each chip by its id register (for a technician)
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from components.core import ipc
from components.core.buses import BusConfigError, open_i2c
from components.core.clock import SystemClock
from components.core.config import Config, ConfigError, ConfigHolder
from components.core.live import LivePublisher
from components.core.log import Log
from components.sensors.scan import scan
from components.sensors.service import SensorService
from components.sensors.settings import SPEC

log = logging.getLogger("floorline.sensors")


def load_config(args: argparse.Namespace, gg: ipc.Greengrass | None) -> ConfigHolder:
    """--config/--config-json (a technician on the device), else the nucleus (or
    FLOORLINE_CONFIG when run outside Greengrass)."""
    if args.config_json or args.config:
        text = args.config_json or Path(args.config).read_text()
        return ConfigHolder(SPEC, json.loads(text))
    return ipc.load_config(SPEC, gg)


def print_scan(bus: object, configured: list[dict[str, Any]]) -> int:
    """The technician's view: what answers, what it is, and whether it is what was configured.
    Exit code 0 only when every configured chip was found."""
    found = {f.address: f for f in scan(bus)}  # type: ignore[arg-type]
    expected = {e["address"]: e["chip"] for e in configured}
    table = Table(title="I2C bus scan")
    for col in ("address", "chip", "detail", "configured"):
        table.add_column(col)
    for address in sorted(set(found) | set(expected)):
        f = found.get(address)
        want = expected.get(address)
        if f is None:
            status = "[red]MISSING[/]"
        elif want is None:
            status = "[yellow]not configured[/]"
        elif f.chip == want or (want == "bme280" and f.chip == "bmp280"):
            status = "[green]OK[/]" if f.chip == want else "[yellow]BMP280 (no humidity)[/]"
        else:
            status = f"[red]expected {want}[/]"
        table.add_row(f"0x{address:02x}", f.chip if f else "-", f.detail if f else "", status)
    Console().print(table)
    return 0 if all(a in found for a in expected) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.sensors")
    parser.add_argument("command", nargs="?", default="run", choices=("run", "scan"))
    parser.add_argument("--config", help="JSON configuration file")
    parser.add_argument("--config-json", help="JSON configuration as a string")
    parser.add_argument("--run-seconds", type=float, default=None,
                        help="stop after this long (tests, demos)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    gg = ipc.connect()
    try:
        holder = load_config(args, gg)
    except (ConfigError, ValueError, OSError) as exc:
        log.error("event=config_invalid reason=%s", exc)
        return 2
    cfg = holder.current
    clock = SystemClock()
    try:
        bus = open_i2c(cfg.i2cBus, clock=clock)
    except (OSError, BusConfigError) as exc:
        # No /dev/i2c-N: I2C not enabled (raspi-config) or the wrong bus number.
        log.error("event=bus_unavailable bus=%s reason=%r", cfg.i2cBus, exc)
        return 1
    if args.command == "scan":
        return print_scan(bus, cfg.sensors)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    store = Log.open(cfg.logPath, device=cfg.deviceName, budget_bytes=cfg.logBudgetBytes,
                     free_floor_bytes=cfg.logFreeFloorBytes, clock=clock)
    reconfigure = threading.Event()
    ipc.follow_updates(holder, gg, on_applied=reconfigure.set)

    def build(cfg: Config) -> SensorService:
        live = LivePublisher(gg, cfg.liveTopicPrefix, enabled=cfg.publishLive)
        return SensorService(cfg, store, bus, clock, time.sleep, live)

    service = build(cfg)
    if gg is not None:
        gg.report_running()
    log.info("event=started sensors=%d log=%s nucleus=%s", len(service.supervisors),
             cfg.logPath, gg is not None)
    deadline = None if args.run_seconds is None else time.monotonic() + args.run_seconds
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if reconfigure.is_set():
                # New sensors, rates or options: commit what is pending, start over with the
                # new set. logPath, deviceName and the log budget apply at the next start.
                reconfigure.clear()
                service.flush()
                service = build(holder.current)
                log.info("event=reconfigured sensors=%d", len(service.supervisors))
            service.cycle()
            wait = service.next_due_s()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            stop.wait(wait)
    finally:
        service.flush()
        log.info("event=stopped stats=%s", json.dumps(service.stats()))
        store.close()
        if gg is not None:
            gg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
