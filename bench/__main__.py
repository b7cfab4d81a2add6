"""`make bench`: every benchmark, then one table of every figure beside its goal and its peer.

    python -m bench [--quick] [--only NAME ...]

Each benchmark is its own script (run alone for detail); each writes bench/results/<name>.json
through bench/report.py. This runs them one after another (never two at once: they would
measure each other) and prints the combined table, also written as bench/results/all.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.report import RESULTS, _fmt, machine

# (result name, module, full arguments, quick arguments)
BENCHMARKS: list[tuple[str, str, list[str], list[str]]] = [
    ("log_ingest", "bench.log_ingest", [], ["--messages", "20000"]),
    ("hardware", "bench.hardware", [], ["--seconds", "1"]),
    (
        "nab",
        "bench.nab",
        [
            "--data",
            "{nab}/data",
            "--labels",
            "{nab}/labels/combined_windows.json",
            "--out",
            "bench/results/nab",
        ],
        [
            "--data",
            "{nab}/data",
            "--labels",
            "{nab}/labels/combined_windows.json",
            "--out",
            "bench/results/nab",
        ],
    ),
    ("nab_cv", "bench.nab_cv", ["--nab", "{nab}"], ["--nab", "{nab}"]),
    (
        "false_raises",
        "bench.false_raises",
        ["--seeds", "40", "--days", "3"],
        ["--seeds", "5", "--days", "2"],
    ),
    ("uplink", "bench.uplink", [], ["--quick"]),
    ("rules_engine", "bench.rules_engine", [], ["--messages", "2000"]),
    ("lake_ingest", "bench.lake_ingest", [], ["--devices", "5", "--hours", "2"]),
    ("http_ingest", "bench.http_ingest", [], ["--seconds", "3", "--no-wrk"]),
    ("http_attack", "bench.http_attack", [], ["--seconds", "5"]),
    ("lake_import", "bench.lake_import", [], ["--records", "100000"]),
    ("fleet", "bench.fleet", [], ["--quick"]),
    ("alert_latency", "bench.alert_latency", [], ["--devices", "2", "--seconds", "40"]),
    ("dashboard", "bench.dashboard", [], ["--devices", "10", "--hours", "2"]),
    ("component_state", "bench.component_state", [], ["--batches", "500", "--rounds", "1"]),
    # Needs root for the arm64 installs (chroot, unshare); --quick measures natively only.
    ("footprint", "bench.footprint", [], ["--no-emulation", "--steady-seconds", "20"]),
]


def run(name: str, module: str, args: list[str], console: Console) -> float | None:
    if not (Path(__file__).parent / f"{module.split('.')[-1]}.py").exists():
        console.print(f"[yellow]skip[/yellow] {name}: no {module}")
        return None
    t0 = time.monotonic()
    console.rule(f"{name}: python -m {module} {' '.join(args)}")
    proc = subprocess.run([sys.executable, "-m", module, *args])
    if proc.returncode != 0:
        console.print(f"[red]FAIL[/red] {name} exited {proc.returncode}")
    return time.monotonic() - t0


def combined(console: Console, names: list[str]) -> Table:
    table = Table(title="floorline benchmarks", show_lines=False)
    for col in ("benchmark", "figure", "value", "unit", "goal", "peer", "ratio"):
        table.add_column(col, overflow="fold")
    everything = []
    for name in names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        doc = json.loads(path.read_text())
        rows = doc.get("rows", []) if isinstance(doc, dict) else []
        for r in rows:
            table.add_row(
                name,
                *(_fmt(r.get(c)) for c in ("figure", "value", "unit", "goal", "peer", "ratio")),
            )
            everything.append({"benchmark": name, **r})
    (RESULTS / "all.json").write_text(
        json.dumps({"machine": machine(), "rows": everything}, indent=1)
    )
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: minutes, not an hour")
    ap.add_argument("--only", nargs="*", help="run only these benchmarks")
    ap.add_argument(
        "--nab",
        default=os.environ.get("NAB_DIR"),
        help="folder of NAB data/ and labels/ (env NAB_DIR); without it nab is skipped",
    )
    args = ap.parse_args(argv)
    console = Console(width=max(Console().width, 150))
    chosen = [b for b in BENCHMARKS if not args.only or b[0] in args.only]
    for name, module, full, quick in chosen:
        argv_ = quick if args.quick else full
        if any("{nab}" in a for a in argv_):
            if not args.nab:
                console.print(f"[yellow]skip[/yellow] {name}: give --nab DIR (or NAB_DIR)")
                continue
            argv_ = [a.replace("{nab}", args.nab) for a in argv_]
        run(name, module, argv_, console)
    console.print(combined(console, [b[0] for b in BENCHMARKS]))  # the latest of each
    console.print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
