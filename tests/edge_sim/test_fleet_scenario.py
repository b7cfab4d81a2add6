"""Scenario files as a newcomer writes them: component names as the live table shows them,
faults the run would never reach refused before anything starts, and a summary that names
each fault that happened."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from edge_sim import cli
from edge_sim.fleet_faults import ScenarioError, check_within, load_fault_schedule
from edge_sim.fleet_reckoning import FleetResult
from edge_sim.fleet_site import CONSOLE, UPLINK


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["Uplink", "uplink", "com.floorline.Uplink", "UPLINK"])
def test_a_kill_names_its_component_as_the_live_table_shows_it(tmp_path, name):
    (fault,) = load_fault_schedule(
        _scenario(tmp_path, f"faults: [{{at: 5, fault: kill, component: {name}}}]"), []
    )
    assert fault.component == UPLINK


def test_an_unknown_component_is_refused_with_the_valid_names(tmp_path):
    with pytest.raises(ScenarioError) as exc:
        load_fault_schedule(
            _scenario(tmp_path, "faults: [{at: 5, fault: kill, component: Uplnk}]"), []
        )
    message = str(exc.value)
    assert "'Uplnk'" in message and "fault 0" in message
    assert "Uplink (com.floorline.Uplink)" in message and f"({CONSOLE})" in message


def test_unplug_names_a_chip_that_exists(tmp_path):
    (fault,) = load_fault_schedule(
        _scenario(tmp_path, "faults: [{at: 5, fault: unplug, chip: '0x44', duration: 20}]"), []
    )
    assert (fault.kind, fault.chip, fault.duration_s) == ("unplug", "0x44", 20.0)
    with pytest.raises(ScenarioError, match="no chip at 0x45.*sht3x at 0x44"):
        load_fault_schedule(
            _scenario(tmp_path, "faults: [{at: 5, fault: unplug, chip: '0x45'}]"), []
        )
    with pytest.raises(ScenarioError, match="goes with unplug"):
        load_fault_schedule(
            _scenario(tmp_path, "faults: [{at: 5, fault: outage, chip: '0x44'}]"), []
        )


def test_faults_beyond_the_run_are_refused_up_front(tmp_path):
    scenario = _scenario(
        tmp_path, "faults: [{at: 10, fault: outage, duration: 5}, {at: 130, fault: kill}]"
    )
    faults = load_fault_schedule(scenario, [])
    check_within(faults[:1], 120)
    with pytest.raises(ScenarioError, match=r"120 s run: kill at 130 s"):
        check_within(faults, 120)


def test_the_cli_refuses_a_late_fault_before_starting_anything(tmp_path, monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buf, width=200, color_system=None))
    path = _scenario(tmp_path, "faults: [{at: 130, fault: outage, duration: 5}]")
    out = tmp_path / "out"
    assert cli.main(["run", "--duration", "120", "--scenario", str(path), "--out", str(out)]) == 2
    assert "outage at 130 s" in buf.getvalue()
    assert not out.exists()  # no broker, no device was started


def test_the_summary_names_each_fault_and_how_long_the_run_was():
    res = FleetResult(devices=2, duration_s=120.4)
    res.rejected = {"quarantined_batches": 0}
    res.faults = [
        {"kind": "outage", "at_s": 42.0, "devices": ["dev-001", "dev-002"], "duration_s": 30.0},
        {"kind": "kill", "at_s": 60.0, "devices": ["dev-001"], "killed": ["dev-001/Uplink"]},
        {"kind": "unplug", "at_s": 5.0, "devices": ["dev-002"], "chip": "0x44"},
    ]
    buf = io.StringIO()
    Console(file=buf, width=80, color_system=None).print(cli.summary_table(res, Path("o")))
    text = buf.getvalue() + "\n".join(cli.summary_lines(res, Path("o")))
    assert "network outage of dev-001, dev-002 at 42 s for 30 s" in text
    assert "kill of dev-001/Uplink at 60 s" in text
    assert "chip 0x44 unplugged on dev-002 at 5 s" in text
    assert "2 devices, 120 s" in text
    assert "0 quarantined batches" in text and "{" not in text
