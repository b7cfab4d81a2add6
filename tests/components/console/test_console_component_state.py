"""`floorline status` answers "which component or sensor is broken, since when, why" from the
state file the components write (components/core/component_state.py): while the uplink is
offline, after it has delivered (and the log retired) the health records, for a killed
component, on either nucleus's socket name."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from screen import assert_whole_values

from components.console import config as console_config
from components.console import status
from components.console.__main__ import main
from components.console.views import fmt_clock, status_tables
from components.core import component_state as cs
from components.core.clock import ManualClock
from components.core.log import Log, NewRecord

DEVICE = "dev-001"
BME = "env/bme280@0x76"
H_BME = "health/bme280@0x76"


@pytest.fixture
def device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", raising=False)
    monkeypatch.setattr(status, "timedatectl_synced", lambda: True)
    clock = ManualClock()
    path = tmp_path / "data" / "log.sqlite"
    path.parent.mkdir()
    config = tmp_path / "console.json"
    config.write_text(
        json.dumps(
            {
                "logPath": str(path),
                "freeDiskFloorBytes": 0,
                "components": ["Sensors", "Uplink"],
                "greengrassRoot": str(tmp_path / "gg"),
            }
        )
    )
    return clock, path, config


def _report(config: Path, clock: ManualClock) -> dict:
    cfg = console_config.load(config)
    return status.build_status(status.gather(cfg, clock, DEVICE), cfg)


def _sensor(report: dict, stream: str) -> dict:
    return next(r for r in report["sensors"] if r["stream"] == stream)


def _component(report: dict, name: str) -> dict:
    return next(c for c in report["components"] if c["name"] == name)


def test_state_and_health_visible_while_offline_and_after_upload(device, captured) -> None:
    clock, path, config = device
    sensors = cs.Reporter(path, "Sensors", clock, heartbeat_s=0)
    uplink = cs.Reporter(path, "Uplink", clock, heartbeat_s=0)
    lg = sensors.watch(Log.open(path, device=DEVICE, free_floor_bytes=0, clock=clock))
    lg.register_consumer("uplink-iot", ("health", "alert", "aggregate", "event"))
    lg.register_consumer("uplink-kinesis", ("raw",))
    sensors.running()
    uplink.running()
    for _ in range(3):
        lg.append_records(
            [
                NewRecord(
                    BME,
                    "raw",
                    {"temperature_c": 21.5, "pressure_pa": 101325.0},
                    wall_ms=clock.wall_ms(),
                )
            ]
        )
        clock.advance(1)
    last_good = clock.wall_ms() - 1000
    # The network goes; ten minutes later the chip stops answering.
    clock.advance(600)
    lg.append(
        H_BME,
        "health",
        {
            "event": "sensor_fault",
            "sensor": BME,
            "state": "faulty",
            "error": "OSError",
            "errno": 121,
            "phase": "read",
        },
    )
    fault_at = clock.wall_ms()
    clock.advance(30)
    sensors.running()  # keeps its state (and since) but shows it is alive
    uplink.running()

    offline = _report(config, clock)
    assert offline["uplink"]["level"] == "WARN" and offline["uplink"]["detail"].startswith(
        "offline"
    )
    bme = _sensor(offline, BME)
    assert (bme["state"], bme["level"], bme["since_wall_ms"]) == ("faulty", "FAIL", fault_at)
    assert "OSError" in bme["detail"] and "errno 121" in bme["detail"]
    assert bme["last_good_age_s"] == (clock.wall_ms() - last_good) / 1000
    comp = _component(offline, "Sensors")
    assert (comp["state"], comp["level"], comp["detail"]) == (
        "DEGRADED",
        "WARN",
        "faulty: bme280@0x76",
    )
    assert offline["led"]["state"] == "fault" and offline["level"] == "FAIL"

    # The network is back: the uplink delivers everything, the log retires the health records.
    for consumer in ("uplink-iot", "uplink-kinesis"):
        lg.ack(consumer, lg.read(consumer, limit=10_000))
    assert not list(lg.snapshot_records(("health",)))
    clock.advance(5)
    after = _report(config, clock)
    assert after["uplink"]["level"] == "OK" and after["uplink"]["backlog_records"] == 0
    bme = _sensor(after, BME)
    assert (bme["state"], bme["level"], bme["since_wall_ms"]) == ("faulty", "FAIL", fault_at)
    assert after["led"]["state"] == "fault"  # the LED does not forget the fault either
    assert _component(after, "Sensors")["state"] == "DEGRADED"
    assert _component(after, "Uplink")["level"] == "OK"

    # The same on the technician's screen, whole values at 80 columns.
    captured.console.width = 80
    assert main(["status", "--config", str(config)], clock=clock, console=captured.console) == 2
    text = captured.text
    assert "env/bme280@0x76" in text and "faulty" in text and "DEGRADED" in text
    assert fmt_clock(fault_at, clock.wall_ms()) in text
    assert_whole_values(text, status_tables(after), 80)
    lg.close()


@pytest.mark.slow
def test_a_killed_component_shows_as_ended_since_its_last_word(device) -> None:
    clock, path, config = device
    script = textwrap.dedent(f"""
        from components.core.component_state import Reporter
        from components.core.log import NewRecord
        r = Reporter({str(path)!r}, "Rfid", heartbeat_s=0)
        r.running()
        r.note_records([NewRecord("rfid/rdm6300@dock", "event", {{"event": "arrive"}})])
        print("up", flush=True)
        import time; time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    Log.open(path, device=DEVICE, free_floor_bytes=0, clock=clock).close()
    board = cs.read_board(path)
    said_at = board.components[0]["updated_wall_ms"]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    clock.set_wall(said_at + 45_000)
    report = _report(config, clock)
    rfid = _component(report, "Rfid")
    assert (rfid["state"], rfid["level"], rfid["since_wall_ms"]) == ("ENDED", "FAIL", said_at)
    assert f"process {proc.pid} gone without stopping" in rfid["detail"]
    assert _component(report, "Sensors")["state"] == "unknown"
    assert report["level"] == "FAIL"
    # Its reader was ok when it died; nobody watches it now, and the report says so.
    reader = _sensor(report, "rdm6300@dock")
    assert (reader["state"], reader["level"]) == ("ok", "WARN")
    assert reader["detail"].startswith("not watched: Rfid is ENDED")
    # Greengrass restarts it: running again, and the unclean end is not hidden.
    again = cs.Reporter(path, "Rfid", clock, heartbeat_s=0)
    again.running()
    rfid = _component(_report(config, clock), "Rfid")
    assert (rfid["state"], rfid["level"]) == ("RUNNING", "WARN")
    assert f"ended uncleanly at {fmt_clock(said_at, clock.wall_ms())}" in rfid["detail"]
    again.stopped()
    rfid = _component(_report(config, clock), "Rfid")
    assert (rfid["state"], rfid["level"]) == ("STOPPED", "WARN")


@pytest.mark.parametrize(
    ("name", "nucleus"), [("ipc.socket", "classic nucleus"), ("gg-ipc.socket", "nucleus lite")]
)
def test_the_nucleus_socket_is_found_by_each_nucleus_name(device, name, nucleus) -> None:
    clock, path, config = device
    Log.open(path, device=DEVICE, free_floor_bytes=0, clock=clock).close()
    root = Path(json.loads(config.read_text())["greengrassRoot"])
    root.mkdir()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(root / name))
        server.listen()
        nuc = _report(config, clock)["nucleus"]
    assert (nuc["reachable"], nuc["found_as"], nuc["socket"]) == (True, nucleus, str(root / name))
    nuc = _report(config, clock)["nucleus"]  # closed: the file stays, nothing answers
    assert nuc["reachable"] is False and nuc["level"] == "UNKNOWN"
