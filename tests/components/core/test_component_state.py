"""The state file: component states and sensor health kept beside the log, regardless of what
the uplink has delivered and retired; a killed process told from a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from waiting import wait_for

from components.core import component_state as cs
from components.core.clock import ManualClock
from components.core.log import BudgetExceeded, Log, NewRecord

BME = "env/bme280@0x76"
H_BME = "health/bme280@0x76"


def _rows(board: cs.Board, table: str) -> dict[str, dict]:
    key = "name" if table == "components" else "source"
    return {r[key]: r for r in getattr(board, table)}


def test_a_component_says_starting_running_stopped_and_since_when(tmp_path: Path) -> None:
    clock = ManualClock()
    rep = cs.Reporter(tmp_path / "log.sqlite", "Sensors", clock, heartbeat_s=0)
    t0 = clock.wall_ms()
    assert (
        _rows(cs.read_board(tmp_path / "log.sqlite"), "components")["Sensors"]["state"]
        == cs.STARTING
    )
    clock.advance(2)
    rep.running()
    clock.advance(30)
    rep.running()  # said again: still running since the first time
    row = _rows(cs.read_board(tmp_path / "log.sqlite"), "components")["Sensors"]
    assert (row["state"], row["since_wall_ms"], row["pid"]) == (cs.RUNNING, t0 + 2000, os.getpid())
    assert row["alive"] is True
    rep.stopped("SIGTERM")
    row = _rows(cs.read_board(tmp_path / "log.sqlite"), "components")["Sensors"]
    assert (row["state"], row["reason"]) == (cs.STOPPED, "SIGTERM")
    assert cs.state_path(tmp_path / "log.sqlite") == tmp_path / "log.state.sqlite"


def test_health_survives_the_uplink_retiring_it_and_readings_show_the_last_good(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    path = tmp_path / "log.sqlite"
    rep = cs.Reporter(path, "Sensors", clock, heartbeat_s=0)
    rep.running()
    lg = rep.watch(Log.open(path, device="dev-1", free_floor_bytes=0, clock=clock))
    lg.register_consumer("uplink-iot", ("health",))
    lg.append_records([NewRecord(BME, "raw", {"temperature_c": 21.5}, wall_ms=clock.wall_ms())])
    good_at = clock.wall_ms()
    clock.advance(10)
    lg.append(
        H_BME,
        "health",
        {
            "event": "sensor_fault",
            "sensor": BME,
            "state": "faulty",
            "error": "OSError",
            "errno": 121,
        },
    )
    fault_at = clock.wall_ms()
    # The uplink delivers the health records: the log no longer holds them.
    lg.ack("uplink-iot", lg.read("uplink-iot", limit=100))
    assert not list(lg.snapshot_records(("health",)))
    clock.advance(5)
    lg.append(H_BME, "health", {"event": "sensor_stats", "sensor": BME, "state": "faulty"})
    board = cs.read_board(path)
    src = _rows(board, "sources")["bme280@0x76"]
    assert (src["state"], src["since_wall_ms"], src["last_error_wall_ms"]) == (
        "faulty",
        fault_at,
        fault_at,
    )  # the periodic report changes neither
    assert "OSError" in src["last_error"] and "121" in src["last_error"]
    assert src["last_good_wall_ms"] == good_at and '"temperature_c":21.5' in src["last_good"]
    comp = _rows(board, "components")["Sensors"]
    assert (comp["state"], comp["reason"]) == (cs.DEGRADED, "faulty: bme280@0x76")
    clock.advance(5)
    lg.append(H_BME, "health", {"event": "sensor_recovered", "sensor": BME, "state": "ok"})
    board = cs.read_board(path)
    assert _rows(board, "sources")["bme280@0x76"]["state"] == "ok"
    assert _rows(board, "components")["Sensors"]["state"] == cs.RUNNING
    lg.close()


def test_a_refused_reading_is_not_shown_as_the_last_good_one(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "log.sqlite"
    rep = cs.Reporter(path, "Sensors", clock, heartbeat_s=0)

    class Refusing:
        def append_records(self, records, **kw):
            raise BudgetExceeded("full", "raw", 0, 0)

    lg = rep.watch(Refusing())
    with pytest.raises(BudgetExceeded):
        lg.append_records([NewRecord(BME, "raw", {"temperature_c": 99.0})])
    rep.flush()
    assert _rows(cs.read_board(path), "sources") == {}


@pytest.mark.slow
def test_a_killed_component_is_told_from_a_stopped_one_and_its_restart_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.sqlite"
    script = textwrap.dedent(f"""
        import time
        from components.core.component_state import Reporter
        r = Reporter({str(path)!r}, "Uplink", heartbeat_s=0)
        r.running()
        print("up", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    row = _rows(cs.read_board(path), "components")["Uplink"]
    assert (row["state"], row["alive"]) == (cs.RUNNING, True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    row = _rows(cs.read_board(path), "components")["Uplink"]
    assert (row["state"], row["alive"]) == (cs.RUNNING, False)  # said running, is gone
    last_word = row["updated_wall_ms"]
    again = cs.Reporter(path, "Uplink", heartbeat_s=0)
    again.running()
    row = _rows(cs.read_board(path), "components")["Uplink"]
    assert (row["restarts"], row["last_unclean_end_wall_ms"], row["alive"]) == (1, last_word, True)
    again.stopped()
    later = cs.Reporter(path, "Uplink", heartbeat_s=0)
    row = _rows(cs.read_board(path), "components")["Uplink"]
    assert (row["restarts"], row["last_unclean_end_wall_ms"]) == (2, last_word)
    later.stopped()


def test_the_heartbeat_moves_while_the_component_runs(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    rep = cs.Reporter(path, "Rfid", heartbeat_s=0.05)
    rep.running()
    first = _rows(cs.read_board(path), "components")["Rfid"]["updated_wall_ms"]
    wait_for(
        lambda: _rows(cs.read_board(path), "components")["Rfid"]["updated_wall_ms"] > first,
        what="a heartbeat",
    )
    rep.stopped()


def test_an_unwritable_state_file_costs_no_reading(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    clock = ManualClock()
    rep = cs.Reporter(blocker / "log.sqlite", "Sensors", clock, heartbeat_s=0)
    rep.running()
    rep.note_records([NewRecord(H_BME, "health", {"event": "sensor_fault"}, wall_ms=1)])
    rep.stopped()
    assert rep.errors >= 1
    assert "no log.state.sqlite" in (cs.read_board(blocker / "log.sqlite").problem or "")


def test_health_verdicts_follow_events_then_the_state_field() -> None:
    assert cs.health_verdict({"event": "reader_fault"}) == "faulty"
    assert cs.health_verdict({"event": "loop_fault_cleared", "state": "faulty"}) == "ok"
    assert cs.health_verdict({"event": "sensor_stats", "state": "ok"}) == "ok"
    assert cs.health_verdict({"event": "reader_stats", "frames": 3}) is None
    assert cs.source_of("rfid/rdm6300@dock") == cs.source_of("health/rdm6300@dock")


def test_a_good_reading_says_a_source_works_but_never_clears_a_fault(tmp_path: Path) -> None:
    clock = ManualClock()
    rep = cs.Reporter(tmp_path / "log.sqlite", "Rfid", clock, heartbeat_s=0)
    first = clock.wall_ms()
    rep.note_records([NewRecord("rfid/rdm6300@dock", "event", {"event": "arrive"}, wall_ms=first)])
    rep.note_records(
        [NewRecord("health/id12@gate", "health", {"event": "reader_stats"}, wall_ms=first)]
    )
    clock.advance(10)
    rep.note_records(
        [
            NewRecord(
                "health/rdm6300@dock",
                "health",
                {
                    "event": "reader_fault",
                    "error": "SerialException",
                    "detail": "device disconnected",
                },
                wall_ms=clock.wall_ms(),
            )
        ]
    )
    rep.note_records(
        [NewRecord("rfid/rdm6300@dock", "event", {"event": "depart"}, wall_ms=clock.wall_ms() + 1)]
    )
    rows = _rows(cs.read_board(tmp_path / "log.sqlite"), "sources")
    assert (rows["id12@gate"]["state"], rows["id12@gate"]["since_wall_ms"]) == ("ok", first)
    dock = rows["rdm6300@dock"]
    assert (dock["state"], dock["since_wall_ms"]) == ("faulty", first + 10_000)
    assert dock["last_error"] == "SerialException: device disconnected"
    rep.stopped()


def test_the_last_word_is_the_last(tmp_path: Path) -> None:
    """A component that ended on an error and then runs its clean-exit path still shows why
    it ended."""
    rep = cs.Reporter(tmp_path / "log.sqlite", "HttpIngest", ManualClock(), heartbeat_s=0)
    rep.running()
    rep.failed("commit process failed: exit 1")
    rep.stopped()
    row = _rows(cs.read_board(tmp_path / "log.sqlite"), "components")["HttpIngest"]
    assert (row["state"], row["reason"]) == (cs.ERRORED, "commit process failed: exit 1")
