"""`python -m cloud.lake` as a technician or a script uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud.lake.__main__ import main
from cloud.lake.store import Lake
from components.core import batch
from components.core.envelope import Record


def test_query_compact_stats(lake: Lake, make_records: Callable[..., list[Record]], capsys) -> None:
    for start in (1, 6):
        lake.ingest([batch.encode(make_records(count=5, start_seq=start), site="s1")])
    root = str(lake.root)
    sql = "SELECT device, count(*) AS n, max(seq) AS last FROM telemetry GROUP BY device"
    assert main(["--root", root, "query", sql, "--json"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"device": "dev-001", "n": 10, "last": 10}
    ]
    assert main(["--root", root, "compact"]) == 0
    assert "2 files merged into 1" in capsys.readouterr().out
    assert main(["--root", root, "stats"]) == 0
    assert "rows_written=10" in capsys.readouterr().out
    assert main(["--root", root, "query", "SELECT nope FROM telemetry"]) == 2
    assert "FAIL" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cloud.lake", "--root", str(tmp_path), "query",
         "SELECT count(*) AS n FROM telemetry"],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "1 rows" in done.stdout
