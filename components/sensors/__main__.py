"""`python -m components.sensors [run|scan]`

run  read the configured chips and GPIO inputs into the durable log until stopped
scan sweep the I2C bus, name each chip by its id register, compare with the configuration

Configuration: from the nucleus under Greengrass (updates apply without a restart), else
FLOORLINE_CONFIG (JSON), or --config FILE / --config-json TEXT for a technician.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.core import component_state, ipc
from components.core.buses import BusConfigError, gpio_pin_factory, open_i2c
from components.core.clock import host_clock
from components.core.config import ConfigError, ConfigHolder
from components.core.live import LivePublisher
from components.core.log.config import open_log
from components.core.stopping import Stop
from components.lib.drivers.registry import Chip
from components.lib.drivers.scan import scan
from components.sensors.config import SPEC, SensorsSettings
from components.sensors.service import SensorService

log = logging.getLogger("floorline.sensors")


def load_config(
    args: argparse.Namespace, gg: ipc.Greengrass | None
) -> ConfigHolder[SensorsSettings]:
    if args.config_json or args.config:
        text = args.config_json or Path(args.config).read_text()
        return ConfigHolder(SPEC, json.loads(text))
    return ipc.load_config(SPEC, gg)


def print_scan(bus: Any, chips: Sequence[Chip]) -> int:
    """The technician's view: what answers, what it is, and whether it is what was configured.
    Exit code 0 only when every configured chip was found."""
    # Imported here: rich costs the running component about 4.5 MiB resident for a table
    # only the `scan` command prints.
    from rich.console import Console
    from rich.table import Table

    found = {f.address: f for f in scan(bus)}
    expected = {c.address: c.driver for c in chips}
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
        elif f.chip == want:
            status = "[green]OK[/]"
        elif want == "bme280" and f.chip == "bmp280":
            status = "[yellow]BMP280 (no humidity)[/]"
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
    parser.add_argument(
        "--run-seconds", type=float, default=None, help="stop after this long (tests, demos)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    gg = ipc.connect()
    try:
        holder = load_config(args, gg)
    except (ConfigError, ValueError, OSError) as exc:
        log.error("event=config_invalid reason=%s", exc)
        return 2
    cfg = holder.current
    clock = host_clock()
    try:
        bus = open_i2c(cfg.i2cBus, clock=clock)
    except (OSError, BusConfigError) as exc:
        # No /dev/i2c-N: I2C not enabled (raspi-config) or the wrong bus number.
        log.error("event=bus_unavailable bus=%s reason=%r", cfg.i2cBus, exc)
        if args.command == "run":
            component_state.Reporter(cfg.logPath, "Sensors", clock).failed(
                f"I2C bus {cfg.i2cBus} unavailable: {exc}"
            )
        return 1
    if args.command == "scan":
        return print_scan(bus, cfg.chips)
    stop = Stop().on_signals(signal.SIGTERM, signal.SIGINT)
    state = component_state.Reporter(cfg.logPath, "Sensors", clock)
    store = state.watch(open_log(cfg, ipc.thing_name(), clock))
    reconfigure = threading.Event()
    ipc.follow_updates(holder, gg, on_applied=reconfigure.set)
    pins: Any = None

    def build(cfg: SensorsSettings) -> SensorService:
        nonlocal pins
        if cfg.gpioInputs and pins is None:
            pins = gpio_pin_factory()
        live = LivePublisher(gg, "sensors", enabled=cfg.publishLive)
        return SensorService(cfg, store, bus, clock, time.sleep, live, pins)

    service = build(cfg)
    if gg is not None:
        gg.report_running()
    state.running()
    log.info(
        "event=started chips=%d gpio_inputs=%d log=%s nucleus=%s",
        len(service.supervisors),
        len(cfg.gpioInputs),
        cfg.logPath,
        gg is not None,
    )
    deadline = None if args.run_seconds is None else time.monotonic() + args.run_seconds
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if reconfigure.is_set():
                # New chips, rates or options: commit what is pending, start over with the
                # new set. logPath and the log budget apply at the next start.
                reconfigure.clear()
                service.close()
                service = build(holder.current)
                log.info("event=reconfigured chips=%d", len(service.supervisors))
            service.cycle()
            wait = service.next_due_s()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            stop.wait(wait)
    finally:
        service.close()
        log.info("event=stopped stats=%s", json.dumps(service.stats()))
        store.close()
        if gg is not None:
            gg.close()
        state.stopped()
    return 0


if __name__ == "__main__":
    sys.exit(main())
