"""The `sensors` component under edge_sim's nucleus, through the real awsiotsdk IPC client: its
configuration comes from the nucleus and follows a deployment update; live values arrive on
local pub/sub; a publish the recipe does not allow is counted, and readings still reach the log."""

import json
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
from edge_sim.nucleus.ipc_server import NucleusServer

COMPONENT = "com.floorline.Sensors"
TOKEN = "tok-sensors-test"
# The access rights are the recipe's, read from the one place that states them.
ACL = recipe.default_configuration(recipe.load(layout.REPO_ROOT / "recipes" / "Sensors.yaml")[1])[
    "accessControl"
]
SCENARIO = {
    "seed": 4,
    "chips": [
        {
            "chip": "sht3x",
            "address": "0x44",
            "signals": {"temperature_c": {"base": 24.0}, "humidity_pct": {"base": 35.0}},
        },
        {
            "chip": "ina219",
            "address": "0x40",
            "signals": {"current_a": {"base": 1.0}, "bus_voltage_v": {"base": 5.0}},
        },
    ],
}


@pytest.fixture
def short_dir():
    path = tempfile.mkdtemp(prefix="fl-", dir="/tmp")  # a Unix socket path must stay short
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def run_component(short_dir, acl, update=None):
    (short_dir / "scenario.json").write_text(json.dumps(SCENARIO))
    server = NucleusServer(
        str(short_dir / "ipc.sock"), {COMPONENT: (TOKEN, acl)}, thing_name="line-3"
    )
    server.config.set_component(
        COMPONENT,
        {
            "logPath": str(short_dir / "log.db"),
            "sampleIntervalSeconds": 0.2,
            "logBatchMaxRecords": 2,
            "logBatchMaxSeconds": 0.5,
            "chips": [{"driver": "sht3x", "address": "0x44"}],
        },
    )
    live = defaultdict(list)
    server.pubsub.subscribe(
        "test", "floorline/live/#", lambda m: live[m.topic].append(m.json_message)
    )
    server.start()
    env = {
        **os.environ,
        "SVCUID": TOKEN,
        "AWS_IOT_THING_NAME": "line-3",
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": str(short_dir / "ipc.sock"),
        "FLOORLINE_I2C_BUS": "sim",
        "FLOORLINE_SIM_SCENARIO": str(short_dir / "scenario.json"),
    }
    try:
        proc = ComponentProcess("components.sensors", ["--run-seconds", "4"], env)
        proc.wait_started()
        if update is not None:
            time.sleep(1.5)
            update(server)
        code = proc.wait()
        states = server.component_states
    finally:
        server.stop()
    assert code == 0, proc.stderr
    with Log.open(short_dir / "log.db", device="line-3") as store:
        records = defaultdict(list)
        for rec in store.snapshot_records():
            records[rec.stream].append(rec)
    return records, live, states, proc.stderr


@pytest.mark.slow
def test_config_from_nucleus_live_values_and_an_update(short_dir):
    def add_ina219(server):
        server.config.set_component(
            COMPONENT,
            {
                "chips": [
                    {"driver": "sht3x", "address": "0x44"},
                    {"driver": "ina219", "address": "0x40"},
                ]
            },
        )

    records, live, states, stderr = run_component(short_dir, ACL, add_ina219)
    assert states[COMPONENT] == "RUNNING"
    sht = records["env/sht3x@0x44"]
    assert len(sht) >= 10 and all(r.device == "line-3" for r in sht)
    assert all(r.payload["temperature_c"] == pytest.approx(24.0, abs=0.01) for r in sht)
    values = live["floorline/live/sensors/env/sht3x@0x44"]
    assert len(values) >= len(sht) - 2  # live is best effort; the log is the record
    assert all(v["humidity_pct"] == pytest.approx(35.0, abs=0.01) for v in values)
    # The INA219 came with the deployment update, halfway through the run.
    ina = records["power/ina219@0x40"]
    assert ina and "event=reconfigured" in stderr
    assert ina[0].mono_ns > sht[3].mono_ns
    assert all(r.payload["current_a"] == pytest.approx(1.0, abs=0.001) for r in ina)
    assert live["floorline/live/sensors/power/ina219@0x40"]


@pytest.mark.slow
def test_refused_live_publish_does_not_cost_readings(short_dir):
    records, live, _, stderr = run_component(short_dir, acl=None)
    assert not live
    assert len(records["env/sht3x@0x44"]) >= 10
    assert "event=live_publish_failed" in stderr
