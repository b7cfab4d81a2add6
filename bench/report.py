"""One way to print and save benchmark figures: a table, plus JSON under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).with_name("results")


def machine() -> dict[str, Any]:
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def emit(name: str, rows: list[dict[str, Any]]) -> Path:
    """rows: figure, value, unit, and optionally goal, peer, ratio, note."""
    table = Table(title=f"floorline benchmark: {name}")
    for col in ("figure", "value", "unit", "goal", "peer", "ratio", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            *(_fmt(r.get(c)) for c in ("figure", "value", "unit", "goal", "peer", "ratio", "note"))
        )
    Console(width=max(Console().width, 150)).print(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": name,
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": machine(),
                "rows": rows,
            },
            indent=2,
        )
    )
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)
