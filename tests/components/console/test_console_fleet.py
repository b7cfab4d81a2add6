"""The console on a log written by an edge_sim fleet run (real component processes, the
emulated nucleus and Stream Manager, Mosquitto, the rules and the lake): while the uplink is
down, `status` sees the device offline, `buffer verify` accounts for every sequence number,
and `buffer export` copies the backlog while the other components keep writing. The uplink
comes back and drains; the stick is then loaded into the lake: every exported record was
already there, so nothing is written twice and nothing is missing."""

from __future__ import annotations

import json
import time

import pytest

from components.console.__main__ import main
from components.lib import export as export_format
from edge_sim.fleet import Fleet
from edge_sim.fleet_site import UPLINK

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

THING = "dev-001"


def _run(argv, captured):
    start = len(captured.text)
    rc = main(argv, console=captured.console)
    return rc, captured.text[start:]


def test_console_on_an_edge_sim_device_through_an_outage(tmp_path, captured, monkeypatch):
    from cloud.lake.query import query
    from cloud.lake.store import Lake
    from components.core.clock import SystemClock

    monkeypatch.delenv("AWS_IOT_THING_NAME", raising=False)
    fleet = Fleet(tmp_path / "fleet", 1, seed=11)
    cfg = tmp_path / "console.json"
    stick = tmp_path / "stick"
    stick.mkdir()
    try:
        fleet.start()
        # The configuration edge_sim writes for the device, as a technician would use it,
        # with a shorter offline threshold than a site's (this run is short).
        written = json.loads(fleet.console_config_path(THING).read_text())
        cfg.write_text(json.dumps({**written, "offlineAfterSeconds": 5}))
        assert fleet.console_command(THING).endswith(f"--device {THING} status")
        fleet.run(10)
        rc, text = _run(["status", "--json", "--config", str(cfg), "--device", THING], captured)
        report = json.loads(text)
        assert report["device"] == THING and report["site"] == "site-1"
        assert report["nucleus"]["reachable"], report["nucleus"]
        states = {c["name"]: c["state"] for c in report["components"]}
        assert states == {
            "Analytics": "RUNNING",
            "HttpIngest": "RUNNING",
            "Rfid": "RUNNING",
            "Sensors": "RUNNING",
            "Uplink": "RUNNING",
            "Console": "RUNNING",
        }
        assert {s["state"] for s in report["sensors"]} == {"ok"}, report["sensors"]
        # The uplink dies and stays down (nobody supervises it for a while): the site keeps
        # measuring into the log, nothing is handed over any more.
        fleet.devices[THING].components[UPLINK].kill()
        time.sleep(12)
        rc, text = _run(["status", "--json", "--config", str(cfg), "--device", THING], captured)
        report = json.loads(text)
        assert report["uplink"]["backlog_records"] > 0
        assert report["uplink"]["detail"].startswith("offline"), report["uplink"]
        uplink = next(c for c in report["components"] if c["name"] == "Uplink")
        assert (uplink["state"], uplink["level"]) == ("ENDED", "FAIL"), uplink
        rc, text = _run(
            ["buffer", "verify", "--json", "--config", str(cfg), "--device", THING], captured
        )
        assert rc == 0, text
        rc, text = _run(
            ["buffer", "export", "--to", str(stick), "--config", str(cfg), "--device", THING],
            captured,
        )
        assert rc == 0, text
        (folder,) = export_format.export_folders(stick)
        exported = list(export_format.read_export(folder))
        assert exported
        assert len({r.identity for r in exported}) == len(exported)
        fleet.drain(90)  # supervising again: the uplink restarts and drains the backlog
    finally:
        result = fleet.stop()
    assert result is not None and result.unaccounted == 0
    with Lake(fleet.out / "lake", clock=SystemClock()) as lake:
        _, before = query(lake, "SELECT count(*) FROM telemetry")
        loaded = lake.ingest_records("site-1", exported)
        _, after = query(lake, "SELECT device, stream, seq FROM telemetry")
    # the uplink delivered everything once the link was back: the stick adds nothing twice
    assert loaded.duplicates == len(exported) and loaded.rows_written == 0
    assert len(after) == len(set(after)) == before[0][0]
