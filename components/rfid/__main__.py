"""`python -m components.rfid --config FILE`: read the configured serial RFID readers into the
durable log as arrive/depart events until stopped (SIGTERM/SIGINT)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from components.core import component_state, ipc
from components.core.buses import open_serial
from components.core.clock import host_clock
from components.core.config import ConfigError, ConfigHolder
from components.core.live import LivePublisher
from components.core.log.config import open_log
from components.core.stopping import Stop
from components.rfid.config import SPEC, RfidSettings
from components.rfid.service import RfidService

log = logging.getLogger("floorline.rfid")
WAIT_MAX_S = 0.25  # a reader loop waits on its ports; this long at most, to see stop and updates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.rfid")
    parser.add_argument("--config", help="JSON configuration file")
    parser.add_argument("--config-json", help="JSON configuration as a string")
    parser.add_argument("--run-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    gg = ipc.connect()
    try:
        if args.config_json or args.config:
            holder = ConfigHolder(
                SPEC, json.loads(args.config_json or Path(args.config).read_text())
            )
        else:
            holder = ipc.load_config(SPEC, gg)
    except (ConfigError, ValueError, OSError) as exc:
        log.error("event=config_invalid reason=%s", exc)
        return 2
    cfg = holder.current
    stop = Stop().on_signals(signal.SIGTERM, signal.SIGINT)
    clock = host_clock()
    state = component_state.Reporter(cfg.logPath, "Rfid", clock)
    store = state.watch(open_log(cfg, ipc.thing_name(), clock))
    reconfigure = threading.Event()
    ipc.follow_updates(holder, gg, on_applied=reconfigure.set)

    def build(cfg: RfidSettings, previous: RfidService | None = None) -> RfidService:
        live = LivePublisher(gg, "rfid", enabled=cfg.publishLive)
        return RfidService(
            cfg, store, clock, lambda url, baud: open_serial(url, baud, 0), live, previous
        )

    service = build(cfg)
    if gg is not None:
        gg.report_running()
    state.running()
    log.info("event=started readers=%d nucleus=%s", len(service.readers), gg is not None)
    deadline = None if args.run_seconds is None else time.monotonic() + args.run_seconds
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if reconfigure.is_set():
                # Unchanged readers carry over (port, tags in the field); removed ones close.
                reconfigure.clear()
                service.close(keep_ports=True)
                service = build(holder.current, service)
                log.info("event=reconfigured readers=%d", len(service.readers))
            service.cycle()
            service.wait(WAIT_MAX_S)
    finally:
        service.close()
        store.close()
        if gg is not None:
            gg.close()
        log.info("event=stopped events=%d refused=%d", service.events, service.refused)
        state.stopped()
    return 0


if __name__ == "__main__":
    sys.exit(main())
