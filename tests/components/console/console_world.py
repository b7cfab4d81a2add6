"""A site log built with the real Log API: sensors and readers append, the uplink and the
analytics consumers read and acknowledge (records retire), then an outage: the backlog grows
until the budget evicts the oldest raw readings, and a sensor faults."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.core.clock import ManualClock
from components.core.component_state import Reporter
from components.core.log import Log

DEVICE = "dev-001"
BUDGET = 1 << 20
BME = "env/bme280@0x76"
VIB = "vib/adxl345@0x53"
RFID = "rfid/rdm6300@ttyS0"
ALERTS = "alert/bme280@0x76"
AGG = "agg/bme280@0x76"
H_BME = "health/bme280@0x76"
H_SHT = "health/sht3x@0x44"
H_RFID = "health/rdm6300@ttyS0"
OUTAGE_S = 3 * 3600


@dataclass
class Site:
    path: Path
    clock: ManualClock
    config: dict[str, Any]
    config_file: Path
    outage_started_wall_ms: int

    def open(self) -> Log:
        return Log.open(
            self.path, device=DEVICE, budget_bytes=BUDGET, free_floor_bytes=0, clock=self.clock
        )


def _raw(n: int, base: float) -> list[dict[str, Any]]:
    return [{"temperature_c": round(base + i * 0.01, 2), "humidity_pct": 41.5} for i in range(n)]


def build_site(tmp: Path, *, outage: bool = True, fault: bool = True) -> Site:
    # The evictions are the point of the outage; one warning line each is noise here.
    logging.getLogger("floorline.log").setLevel(logging.ERROR)
    clock = ManualClock()
    path = tmp / "log.db"
    lg = Log.open(path, device=DEVICE, budget_bytes=BUDGET, free_floor_bytes=0, clock=clock)
    lg.register_consumer("uplink-iot", classes=("alert", "aggregate", "event", "health"))
    lg.register_consumer("uplink-kinesis", classes=("raw",))
    lg.register_consumer("analytics", classes=("raw",))
    # Online: readings flow, the uplink and analytics keep up.
    for minute in range(6):
        lg.append_batch(BME, "raw", _raw(200, 20 + minute))
        lg.append_batch(VIB, "raw", [{"rms_g": 0.02 * i, "peak_hz": 49.8} for i in range(100)])
        lg.append(AGG, "aggregate", {"mean_c": 20.5 + minute, "n": 200})
        lg.append(RFID, "event", {"event": "arrive", "tag_id": f"0A00{minute}", "reads": 3})
        clock.advance(60)
        for consumer in ("uplink-kinesis", "analytics"):
            lg.ack(consumer, lg.read(consumer, limit=250))
        lg.ack("uplink-iot", lg.read("uplink-iot", limit=1000))
    lg.append(
        H_SHT,
        "health",
        {
            "event": "sensor_fault",
            "sensor": "env/sht3x@0x44",
            "state": "faulty",
            "error": "OSError",
            "errno": 121,
        },
    )
    lg.append(
        H_SHT,
        "health",
        {"event": "sensor_recovered", "sensor": "env/sht3x@0x44", "state": "ok", "down_s": 12.0},
    )
    lg.append(H_RFID, "health", {"event": "reader_stats", "reader": RFID, "frames": 18})
    lg.ack("uplink-kinesis", lg.read("uplink-kinesis", limit=10_000))
    lg.ack("analytics", lg.read("analytics", limit=10_000))
    outage_at = clock.wall_ms()
    if outage:
        # The uplink is cut: nothing is acknowledged any more; the budget fills and the
        # oldest raw readings are evicted; alerts and events are kept.
        for step in range(120):
            lg.append_batch(BME, "raw", _raw(250, 18 + step % 7))
            if step % 10 == 0:
                lg.append(ALERTS, "alert", {"rule": "temp_high", "value_c": 31.2, "step": step})
                lg.append(RFID, "event", {"event": "depart", "tag_id": "0A001", "reads": 2})
            clock.advance(OUTAGE_S / 120)
        if fault:
            lg.append(
                H_BME,
                "health",
                {
                    "event": "sensor_fault",
                    "sensor": BME,
                    "state": "faulty",
                    "error": "OSError",
                    "errno": 121,
                },
            )
    lg.close()
    config = {
        "logPath": str(path),
        "logBudgetBytes": BUDGET,
        "freeDiskFloorBytes": 0,
        "greengrassRoot": str(tmp / "greengrass"),
        "components": ["Sensors", "Uplink"],
    }
    config_file = tmp / "console.json"
    config_file.write_text(json.dumps(config))
    return Site(path, clock, config, config_file, outage_at)


def components_running(site: Site) -> list[Reporter]:
    """The site's expected components say they run (from this process: alive)."""
    reporters = [
        Reporter(site.config["logPath"], name, site.clock, heartbeat_s=0)
        for name in site.config["components"]
    ]
    for r in reporters:
        r.running()
    return reporters
