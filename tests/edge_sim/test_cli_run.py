"""`python -m edge_sim run` as CI runs it: output piped, a scenario naming its component as
the live table shows it. Progress lines while it runs, the `floorline` line per device, and a
summary that names the faults and the run's real length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_a_piped_run_reports_progress_the_console_line_and_each_fault(tmp_path):
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(
        "faults:\n"
        "  - {at: 4, fault: outage, duration: 4}\n"
        "  - {at: 9, fault: kill, component: Uplink, devices: [dev-001]}\n"
    )
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_sim",
            "run",
            "--devices",
            "1",
            "--duration",
            "16",
            "--drain",
            "40",
            "--scenario",
            str(scenario),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    text = proc.stdout
    assert proc.returncode == 0, text + proc.stderr
    progress = [line for line in text.splitlines() if "/16 s  links:" in line]
    assert len(progress) >= 3, text  # one every 5 s, not a silent minute
    assert any("OUTAGE dev-001" in line for line in progress), progress
    assert (
        f"floorline --config {out / 'devices' / 'dev-001' / 'console.json'} --device dev-001 status"
    ) in text
    assert "network outage of dev-001 at 4 s for 4 s" in text
    assert "kill of dev-001/Uplink at 9 s" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["duration_s"] == pytest.approx(16, abs=1.5)
    assert summary["kills"] == 1 and summary["unaccounted"] == 0
