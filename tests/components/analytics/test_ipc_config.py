"""Configuration through real Greengrass IPC: the real awsiotsdk client talks to edge_sim's
nucleus; a deployment pushes updates; an invalid one is rejected with its reasons (recorded
as an event) and the configuration in force stays; a valid one takes effect."""

import shutil
import tempfile
import time

import awsiot.greengrasscoreipc as ggipc
import pytest
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from waiting import wait_for

from components.analytics import __main__ as comp
from components.analytics.streams import parse_streams
from components.core import ipc
from components.core.clock import ManualClock
from components.core.log import Log
from edge_sim.nucleus.cloud import InMemoryCloud
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.ipc_server import NucleusServer

NAME, TOKEN = "com.floorline.Analytics", "tok-analytics-5e21"
T0 = 1_767_225_600_000
STREAM = "env/bme280@0x76"


def threshold(high):
    return {
        STREAM: {
            "detectors": [
                {"type": "threshold", "field": "temperature_c", "high": high, "hysteresis": 1}
            ]
        }
    }


@pytest.fixture
def nucleus():
    short = tempfile.mkdtemp(prefix="gg", dir="/tmp")  # socket paths must stay < 108 bytes
    store = ConfigStore()
    store.set_component(
        NAME, {**comp.SPEC.defaults(), "detectors": threshold(30), "accessControl": {}}
    )
    srv = NucleusServer(
        f"{short}/ipc.sock",
        components={NAME: (TOKEN, None)},
        config_store=store,
        cloud=InMemoryCloud(),
        thing_name="dev-001",
    )
    srv.start()
    raw = ggipc.connect(ipc_socket=srv.socket_path, authtoken=TOKEN, timeout=5)
    gg = ipc.Greengrass(GreengrassCoreIPCClientV2(client=raw))
    yield store, gg
    gg.close()
    srv.stop()
    shutil.rmtree(short, ignore_errors=True)


def now_ms():
    return time.time_ns() // 1_000_000  # the store stamps its tree with the system clock


def test_updates_through_ipc(nucleus, tmp_path):
    store, gg = nucleus
    holder = ipc.load_config(comp.SPEC, gg)
    assert holder.current.detectors == parse_streams(
        threshold(30)
    ) and holder.current.windowSeconds == (
        10.0,
        60.0,
    )
    clock = ManualClock(wall_ms=T0)
    lg = Log.open(tmp_path / "log.db", device="dev-001", free_floor_bytes=0, clock=clock)
    c = comp.Analytics(lg, holder.current, clock)
    comp.watch_configuration(c, holder, gg)
    lg.register_consumer("check", classes=("alert", "event"))

    # an invalid deployment: detectors is not a list
    store.merge(NAME, (), {"detectors": {STREAM: {"detectors": "hot"}}}, now_ms())
    wait_for(lambda: holder.rejected == 1)
    assert holder.current.detectors == parse_streams(threshold(30))
    lg.append(STREAM, "raw", {"temperature_c": 35.0}, wall_ms=T0)
    c.step()
    recs = lg.read("check")
    events = [r.payload for r in recs if r.cls == "event"]
    assert events[0]["type"] == "config_rejected" and STREAM in events[0]["errors"]["detectors"]
    assert [r.payload["state"] for r in recs if r.cls == "alert"] == ["raised"]  # 30 in force

    # a valid deployment: the limit moves to 50, the open alert clears under the new rules
    store.merge(NAME, (), {"detectors": threshold(50)}, now_ms())
    wait_for(lambda: holder.current.detectors == parse_streams(threshold(50)))
    wait_for(lambda: c._pending is not None)
    lg.append(STREAM, "raw", {"temperature_c": 45.0}, wall_ms=T0 + 1000)
    c.step()
    assert c.engine.pipes[STREAM].value_detectors[0][2].limit == 50.0
    last = [r.payload for r in lg.read("check") if r.cls == "alert"][-1]
    assert (last["state"], last["reason"]) == ("cleared", "configuration changed")
    assert c.engine.alerts.open == {}  # 45 is within the new limit: nothing raised again
