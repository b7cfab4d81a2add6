"""Dashboard benchmark: how long one refresh of the fleet dashboard takes over a local lake.

    PYTHONPATH=. python bench/dashboard.py [--devices 50] [--hours 6] [--json out.json]
    (or python -m bench.dashboard; figures also go to bench/results/dashboard.json)

Writes a lake with `Lake.ingest_records` (per device: BME280 and INA219 readings every 10 s, a
health report every minute, an RFID event every 2 minutes, an alert raised and cleared every
hour; one ingest call per 5-minute uplink window), then times the document behind one page
refresh (`App.dashboard`: read-only snapshot, pin the range's rows, every query) per range, and
its JSON size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import emit
from cloud.dashboard import model
from cloud.dashboard.server import App
from cloud.lake.store import Lake
from components.core.clock import ManualClock
from components.core.envelope import Record

END_MS = 1_795_000_000_000
WINDOW_MS = 300_000
SITES = ("plant-1", "plant-2", "plant-3")


def window_records(devices: int, start_ms: int, seqs: dict[tuple[str, str], int]
                   ) -> dict[str, list[Record]]:  # fmt: skip
    out: dict[str, list[Record]] = {site: [] for site in SITES}

    def add(device: str, stream: str, cls: str, wall_ms: int, payload: dict[str, Any]) -> None:
        key = (device, stream)
        seqs[key] = seqs.get(key, 0) + 1
        site = SITES[int(device[4:]) % len(SITES)]
        out[site].append(Record(device, stream, seqs[key], cls, wall_ms * 1_000_000, wall_ms,
                                True, payload))  # fmt: skip

    for n in range(devices):
        device = f"dev-{n:04d}"
        for t in range(start_ms, start_ms + WINDOW_MS, 10_000):
            phase = (t // 1000 + n * 37) % 3600 / 3600
            add(device, "env/bme280@0x76", "raw", t, {
                "temperature_c": 20 + n % 7 + phase, "humidity_pct": 40 + 5 * phase,
                "pressure_pa": 101_325 - 50 * phase})  # fmt: skip
            add(
                device,
                "power/ina219@0x40",
                "raw",
                t + 3,
                {"bus_voltage_v": 12.1 - 0.3 * phase, "current_a": 0.8, "power_w": 9.6},
            )
            if t % 60_000 == 0:
                add(
                    device,
                    "health/bme280@0x76",
                    "health",
                    t + 5,
                    {"event": "sensor_stats", "sensor": "env/bme280@0x76", "state": "ok"},
                )
            if t % 120_000 == 0:
                add(
                    device,
                    "rfid/rdm6300@ttyS0",
                    "event",
                    t + 7,
                    {"event": "arrive", "tag_id": f"0A{(t // 120_000 + n) % 40:08X}"},
                )
            if t % 3_600_000 in (0, 600_000):
                state = "raised" if t % 3_600_000 == 0 else "cleared"
                add(device, "alert_env/bme280@0x76", "alert", t + 9, {
                    "alert_id": f"{device}-{t // 3_600_000}", "state": state,
                    "severity": "warning", "detector": "rate", "condition": "high"})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    figures: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lake"
        clock = ManualClock(wall_ms=END_MS)
        start_ms = END_MS - args.hours * 3_600_000
        seqs: dict[tuple[str, str], int] = {}
        rows = 0
        began = time.perf_counter()
        with Lake(root, clock=clock) as lake:
            for window in range(start_ms, END_MS, WINDOW_MS):
                clock.set_wall(window + WINDOW_MS)
                for site, records in window_records(args.devices, window, seqs).items():
                    rows += lake.ingest_records(site, records).rows_written
        figures.append(("lake rows", rows, "rows"))
        figures.append(("lake build", time.perf_counter() - began, "s"))
        app = App(lake_root=root, clock=ManualClock(wall_ms=END_MS))
        for range_name in ("15m", "1h", "6h", "all"):
            times, size = [], 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                doc = app.dashboard(model.Filters(range=range_name))
                times.append(time.perf_counter() - t0)
                size = len(json.dumps(doc, default=str))
            figures.append((f"refresh, range {range_name} (median of {args.repeat})",
                            statistics.median(times), "s"))  # fmt: skip
            figures.append((f"document, range {range_name}", size / 1024, "KiB"))
        one = app.dashboard(model.Filters(range="1h", site=SITES[0]))
        figures.append((f"records, range 1h, site {SITES[0]}", one["fleet"]["records"], "rows"))
    emit(
        "dashboard",
        [
            {"figure": n, "value": round(v, 3) if u == "s" else round(v), "unit": u}
            for n, v, u in figures
        ]
        + [{"figure": "fleet", "value": f"{args.devices} devices, {args.hours} h", "unit": ""}],
    )
    if args.json:
        args.json.write_text(json.dumps([
            {"figure": n, "value": v, "unit": u} for n, v, u in figures], indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
