"""Lake import memory: the importer's peak RSS over its own baseline for a large export.

    python -m bench.lake_import [--records 1000000] [--format csv|parquet]

A real log is filled with N raw records and exported with `write_export` (as `floorline
buffer export --all` does). The import runs in a fresh process (`cloud.lake import` as a
technician runs it): its baseline is its RSS with every module it uses loaded (pyarrow
included) and the lake open, just before the import; its peak is VmHWM at the end.
Goal: < 50 MB over the baseline for 1,000,000 records (before the streamed import: about
1.5 KB per record, 554 MB for 300,000).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import emit

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 50.0

_IMPORTER = """
import json, sys, time
from pathlib import Path
from rich.console import Console
from cloud.lake.__main__ import _import
from cloud.lake.store import Lake
import components.lib.export, pyarrow.parquet  # loaded by the import: in the baseline
from components.core.clock import SystemClock

def status(key):
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024

with Lake(sys.argv[1], clock=SystemClock()) as lake:
    base = status('VmRSS:')
    t0 = time.perf_counter()
    rc = _import(lake, sys.argv[2], 'site-1', [], Console(file=sys.stderr))
    seconds = time.perf_counter() - t0
    rows = lake.stats().get('rows_written', 0)
print(json.dumps({'rc': rc, 'baseline': base, 'peak': status('VmHWM:'), 'rows': rows,
                  'seconds': seconds}))
"""


def _make_export(work: Path, records: int, fmt: str) -> Path:
    from components.console.export import write_export
    from components.core.clock import ManualClock
    from components.core.log import Log

    clock = ManualClock()
    with Log.open(
        work / "log.db", device="dev-001", clock=clock, free_floor_bytes=0, budget_bytes=8 << 30
    ) as lg:
        for start in range(0, records, 5000):
            n = min(5000, records - start)
            lg.append_batch(
                "env/bme280@0x76",
                "raw",
                [
                    {"temperature_c": 20.0 + (start + i) % 100 / 10, "humidity_pct": 40.5}
                    for i in range(n)
                ],
            )
            clock.advance(1.0)
        stick = work / "stick"
        stick.mkdir()
        return write_export(
            lg,
            stick,
            fmt=fmt,
            device="dev-001",
            site="site-1",
            now_wall_ms=clock.wall_ms(),
            scope="all",
        ).folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        folder = _make_export(work, args.records, args.format)
        print(
            f"export of {args.records} records written in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        run = subprocess.run(
            [sys.executable, "-c", _IMPORTER, str(work / "lake"), str(folder)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["rc"] == 0 and got["rows"] == args.records, got
    growth_mb = (got["peak"] - got["baseline"]) / 1e6
    emit(
        "lake_import",
        [
            {
                "figure": f"import peak RSS over baseline, {args.records:,} records "
                f"({args.format})",
                "value": round(growth_mb, 1),
                "unit": "MB",
                "goal": GOAL_MB,
                "ratio": round(growth_mb / GOAL_MB, 2),
                "note": "lower is better",
            },
            {
                "figure": "importer baseline RSS",
                "value": round(got["baseline"] / 1e6, 1),
                "unit": "MB",
            },
            {
                "figure": "RSS growth per record",
                "value": round(growth_mb * 1e6 / args.records, 1),
                "unit": "B",
                "peer": 1500,
                "note": "peer: the import before streaming",
            },
            {
                "figure": "import rate",
                "value": round(args.records / got["seconds"]),
                "unit": "records/s",
            },
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
