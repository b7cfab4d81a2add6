"""`kill <runner>` stops the whole fleet: no component process outlives the runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def processes_under(root: Path) -> list[int]:
    """Processes whose working directory is inside `root` (a device's components run in
    their own work folders, in process groups of their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            found.append(int(entry.name))
    return found


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


def test_sigterm_to_the_runner_stops_every_component(tmp_path):
    out = tmp_path / "fleet"
    runner = subprocess.Popen(
        [sys.executable, "-m", "edge_sim", "run", "--devices", "1", "--duration", "600",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        # The sensors, RFID, uplink, analytics, console and HTTP ingest processes are up.
        assert wait_for(lambda: len(processes_under(out)) >= 5, 120), processes_under(out)
        runner.send_signal(signal.SIGTERM)
        output, _ = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, output
    assert "the lake:" in output.lower()  # it stopped the way Ctrl-C does: with its summary
    assert wait_for(lambda: not processes_under(out), 10), processes_under(out)
