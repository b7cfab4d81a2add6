"""How fast the technician's console handles a long outage's backlog.

    python -m bench.console_export [--records 200000]

A log holding N raw readings (10 streams) plus alerts is exported to parquet and to csv
(`floorline buffer export --all`), each export read back through `read_export` (hashes,
every record parsed and checked), then `buffer verify` (integrity check and sequence
accounting) and one `status` report are timed. The goal column is a week offline at one
reading per second from 10 sensors (6.05 M records) done within 15 minutes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.report import emit
from components.console import config as console_config
from components.console import export, status, verify
from components.core.clock import ManualClock
from components.core.log import Log
from components.lib import export as export_format

T = TypeVar("T")
WEEK_RECORDS = 7 * 24 * 3600 * 10
GOAL_S = 15 * 60


def build(path: Path, n: int, clock: ManualClock) -> None:
    with Log.open(
        path, device="bench-001", budget_bytes=4 << 30, free_floor_bytes=0, clock=clock
    ) as lg:
        lg.register_consumer("uplink-kinesis", classes=("raw",))
        lg.register_consumer("uplink-iot", classes=("alert",))
        per_batch = 500
        for i in range(0, n, per_batch):
            stream = f"env/bme280@0x{0x70 + (i // per_batch) % 10:02x}"
            lg.append_batch(
                stream,
                "raw",
                [
                    {"temperature_c": 20.0 + (j % 100) / 10, "humidity_pct": 40.5}
                    for j in range(per_batch)
                ],
            )
            if i % 50_000 == 0:
                lg.append("alert/bme280@0x70", "alert", {"rule": "temp_high", "value_c": 31.0})
            clock.advance(per_batch / 10)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    args = ap.parse_args(argv)
    logging.getLogger("floorline.log").setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = ManualClock()
        path = root / "log.db"
        _, build_s = timed(lambda: build(path, args.records, clock))
        cfg = console_config.SPEC.parse(
            {"logPath": str(path), "freeDiskFloorBytes": 0, "greengrassRoot": str(root / "gg")}
        )
        for fmt in ("parquet", "csv"):
            dest = root / fmt
            dest.mkdir()
            with Log.open(path, device="bench-001", free_floor_bytes=0, clock=clock) as lg:
                result, write_s = timed(
                    lambda lg=lg, dest=dest, fmt=fmt: export.write_export(
                        lg,
                        dest,
                        fmt=fmt,
                        device="bench-001",
                        now_wall_ms=clock.wall_ms(),
                        scope="all",
                    )
                )
            n = result.manifest["records"]
            size = sum(f["bytes"] for f in result.manifest["files"])
            count, read_s = timed(
                lambda r=result: sum(1 for _ in export_format.read_export(r.folder))
            )
            assert count == n
            rows += [
                {
                    "figure": f"export {fmt}",
                    "value": n / write_s,
                    "unit": "records/s",
                    "goal": WEEK_RECORDS / GOAL_S,
                    "ratio": round(n / write_s / (WEEK_RECORDS / GOAL_S), 2),
                    "note": f"{n} records in {write_s:.1f} s",
                },
                {"figure": f"export {fmt} size", "value": size / n, "unit": "bytes/record"},
                {
                    "figure": f"read_export {fmt} (verified)",
                    "value": n / read_s,
                    "unit": "records/s",
                    "note": f"{read_s:.1f} s",
                },
            ]
        report, verify_s = timed(lambda: verify.run(path))
        assert report.level.name == "OK"
        _, status_s = timed(
            lambda: status.build_status(status.gather(cfg, clock, "bench-001"), cfg)
        )
        rows += [
            {
                "figure": "buffer verify",
                "value": verify_s,
                "unit": "s",
                "note": f"{args.records} records, integrity check included",
            },
            {"figure": "status report", "value": status_s * 1000, "unit": "ms"},
            {
                "figure": "building the log",
                "value": args.records / build_s,
                "unit": "records/s",
                "note": "500-reading transactions",
            },
        ]
    emit("console_export", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
