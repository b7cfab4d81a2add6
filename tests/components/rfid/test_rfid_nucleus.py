"""The `rfid` component under edge_sim's nucleus (real awsiotsdk client): readers come from the
nucleus configuration, a deployment update adds a reader, presence goes to the log and live."""

import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from cloud.greengrass import layout, recipe
from components.core.log import Log
from edge_sim.hardware.component_process import ComponentProcess
from edge_sim.hardware.rfid import PtyReader
from edge_sim.nucleus.ipc_server import NucleusServer

COMPONENT = "com.floorline.Rfid"
TOKEN = "tok-rfid-test"
# The access rights are the recipe's, read from the one place that states them.
ACL = recipe.default_configuration(recipe.load(layout.REPO_ROOT / "recipes" / "Rfid.yaml")[1])[
    "accessControl"
]


@pytest.mark.slow
def test_readers_from_nucleus_and_an_added_reader():
    short = Path(tempfile.mkdtemp(prefix="fl-", dir="/tmp"))
    server = NucleusServer(str(short / "ipc.sock"), {COMPONENT: (TOKEN, ACL)}, thing_name="gate-1")
    live = defaultdict(list)
    server.pubsub.subscribe(
        "test", "floorline/live/#", lambda m: live[m.topic].append(m.json_message)
    )
    try:
        with PtyReader("rdm6300", repeat_s=0.1) as dock, PtyReader("id12", repeat_s=0.1) as door:
            server.config.set_component(
                COMPONENT,
                {
                    "logPath": str(short / "log.db"),
                    "departAfterSeconds": 0.4,
                    "readers": [{"model": "rdm6300", "port": dock.path, "name": "dock"}],
                },
            )
            server.start()
            env = {
                **os.environ,
                "SVCUID": TOKEN,
                "AWS_IOT_THING_NAME": "gate-1",
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": str(short / "ipc.sock"),
            }
            proc = ComponentProcess("components.rfid", ["--run-seconds", "4"], env)
            proc.wait_started()
            dock.present("1122334455", duration_s=0.6)
            time.sleep(1.0)
            server.config.set_component(
                COMPONENT,
                {
                    "readers": [
                        {"model": "rdm6300", "port": dock.path, "name": "dock"},
                        {"model": "id12la", "port": door.path, "name": "door"},
                    ]
                },
            )
            time.sleep(0.5)
            door.present("0C000621A5", duration_s=0.6)
            code = proc.wait()
            states = server.component_states
        assert code == 0, proc.stderr
        records = defaultdict(list)
        with Log.open(short / "log.db", device="gate-1") as store:
            for rec in store.snapshot_records():
                records[rec.stream].append(rec.payload)
    finally:
        server.stop()
        shutil.rmtree(short, ignore_errors=True)
    assert states[COMPONENT] == "RUNNING"
    assert [(p["event"], p["tag_id"]) for p in records["rfid/rdm6300@dock"]] == [
        ("arrive", "1122334455"),
        ("depart", "1122334455"),
    ]
    assert [(p["event"], p["tag_id"]) for p in records["rfid/id12la@door"]] == [
        ("arrive", "0C000621A5"),
        ("depart", "0C000621A5"),
    ]
    door_live = live["floorline/live/rfid/rfid/id12la@door"]
    assert [m["event"] for m in door_live] == ["arrive", "depart"]
    assert "event=reconfigured readers=2" in proc.stderr
