"""Stopping the runner stops the whole fleet: what was produced is reckoned, nothing runs on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from waiting import wait_for

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


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_a_stopped_runner_drains_and_stops_every_component(tmp_path, how):
    """`kill` signals the runner alone; Ctrl-C in a terminal signals its whole process group
    (the broker and the lake process too). Either way the fleet stops the way a finished run
    does: it drains, reckons every reading, and leaves no process behind."""
    out = tmp_path / "fleet"
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge_sim",
            "run",
            "--devices",
            "1",
            "--duration",
            "600",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    try:
        # The sensors, RFID, uplink, analytics, console and HTTP ingest processes are up.
        wait_for(
            lambda: len(processes_under(out)) >= 5,
            timeout_s=120,
            interval_s=0.5,
            what="the components' processes",
        )
        time.sleep(5)  # readings on their way: the stop has something to drain
        if how == "kill":
            runner.send_signal(signal.SIGTERM)
        else:
            os.killpg(runner.pid, signal.SIGINT)
        output, _ = runner.communicate(timeout=180)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130, output
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["delivered"].values()) > 0, summary
    assert summary["unaccounted"] == 0 and summary["duplicates_in_lake"] == 0, summary
    wait_for(
        lambda: not processes_under(out),
        timeout_s=10,
        interval_s=0.5,
        what="no process left behind",
    )


def test_a_run_interrupted_during_an_outage_still_delivers_everything(tmp_path):
    """Ctrl-C in the middle of a fleet-wide outage: the outage ends with the run, so what the
    devices spooled meanwhile still reaches the lake on the way out."""
    from edge_sim.fleet import Fleet
    from edge_sim.fleet_faults import ScheduledFault

    fleet = Fleet(
        tmp_path / "fleet",
        1,
        seed=3,
        faults=[ScheduledFault(at_s=2, kind="outage", devices=None, duration_s=600)],
    )

    def interrupt_during_the_outage(elapsed, _fleet):
        if elapsed > 12:
            raise KeyboardInterrupt

    try:
        fleet.start()
        with pytest.raises(KeyboardInterrupt):
            fleet.run(600, progress=interrupt_during_the_outage)
        assert fleet.broker.link("dev-001").online
    finally:
        result = fleet.stop()
    assert result is not None and sum(result.delivered.values()) > 0
    assert result.unaccounted == 0 and result.duplicates_in_lake == 0, result.as_dict()
