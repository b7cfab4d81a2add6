"""The `rfid` component as a process reading edge_sim readers on real ptys: presence events
land in the log; corrupted frames are counted in health records, never turned into tags."""

import json
import os
import time
from collections import defaultdict

import pytest

from components.core.log import Log
from components.rfid.config import port_label
from edge_sim.hardware.component_process import ComponentProcess
from edge_sim.hardware.rfid import PtyReader


@pytest.mark.slow
def test_rfid_component_writes_presence_events(tmp_path):
    with PtyReader("rdm6300", repeat_s=0.1, seed=1) as dock, PtyReader("uhf_m100", seed=2) as gate:
        cfg = {
            "logPath": str(tmp_path / "log.db"),
            "departAfterSeconds": 0.5,
            "pollIntervalSeconds": 0.1,
            "healthIntervalSeconds": 0.5,
            "readers": [
                {"model": "rdm6300", "port": dock.path, "name": "dock1"},
                {"model": "uhf_m100", "port": gate.path},
            ],
        }
        env = {**os.environ, "AWS_IOT_THING_NAME": "dock-02"}
        env.pop("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", None)
        proc = ComponentProcess(
            "components.rfid", ["--config-json", json.dumps(cfg), "--run-seconds", "3.5"], env
        )
        proc.wait_started()
        dock.corrupt_next(3)
        dock.present("67003B51C6", duration_s=1.2)
        gate.present("E2801160600002054D4B1A2B", duration_s=0.8, rssi_dbm=-52)
        time.sleep(1.5)
        gate.present("300833B2DDD9014000000000", duration_s=0.6)
        assert proc.wait() == 0, proc.stderr
    records = defaultdict(list)
    with Log.open(tmp_path / "log.db", device="dock-02") as store:
        for rec in store.snapshot_records():
            records[rec.stream].append(rec)
    dock_events = [(r.payload["event"], r.payload["tag_id"]) for r in records["rfid/rdm6300@dock1"]]
    assert dock_events == [("arrive", "67003B51C6"), ("depart", "67003B51C6")]
    depart = records["rfid/rdm6300@dock1"][1].payload
    assert 0.5 < depart["dwell_s"] < 1.5 and depart["reads"] >= 5
    gate_stream = f"rfid/uhf_m100@{port_label(gate.path)}"
    assert [(r.payload["event"], r.payload["tag_id"][:4]) for r in records[gate_stream]] == [
        ("arrive", "E280"),
        ("depart", "E280"),
        ("arrive", "3008"),
        ("depart", "3008"),
    ]
    assert all(r.cls == "event" for r in records[gate_stream])
    stats = [
        r.payload for r in records["health/rdm6300@dock1"] if r.payload["event"] == "reader_stats"
    ]
    assert stats and sum(stats[-1]["rejects"].values()) >= 3
    gate_stats = [r.payload for r in records[f"health/uhf_m100@{port_label(gate.path)}"]]
    assert gate_stats[-1]["reader_errors"].get("0x15", 0) > 0  # polls with no tag in the field
