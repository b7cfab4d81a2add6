"""The uplink process against edge_sim's nucleus, through the real awsiotsdk IPC client."""

from __future__ import annotations

import json
import shutil
import signal
import tempfile

import pytest
from uplink_world import THING, TOKEN, UPLINK, config, dumps, start_uplink
from waiting import wait_for

from components.core import batch
from components.core.log import Log
from components.core.topics import SHADOW_NAME
from edge_sim.nucleus.access import CLASSIC, FLAVOURS
from edge_sim.nucleus.cloud import InMemoryCloud
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.ipc_server import NucleusServer
from edge_sim.nucleus.shadow import ShadowStore

pytestmark = pytest.mark.e2e


@pytest.fixture
def world(tmp_path, request):
    sock_dir = tempfile.mkdtemp(prefix="gg", dir="/tmp")
    # IoT Core with its Device Shadow service (the uplink reports through the shadow topics).
    cloud = InMemoryCloud(shadows=ShadowStore())
    store = ConfigStore()
    store.set_component(UPLINK, config(tmp_path / "log.db"))
    server = NucleusServer(
        f"{sock_dir}/ipc.sock",
        components={UPLINK: (TOKEN, config(tmp_path / "log.db")["accessControl"])},
        config_store=store,
        cloud=cloud,
        thing_name=THING,
        flavour=getattr(request, "param", CLASSIC),
    )
    server.start()
    procs = []

    def run():
        p = start_uplink(f"{sock_dir}/ipc.sock")
        procs.append(p)
        return p

    yield cloud, tmp_path / "log.db", run, server
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
    server.stop()
    shutil.rmtree(sock_dir, ignore_errors=True)


def _delivered(cloud: InMemoryCloud) -> dict[tuple[str, str, int], int]:
    seen: dict[tuple[str, str, int], int] = {}
    for m in cloud.received:
        if m.topic.endswith("/alert"):
            d = json.loads(m.payload)
            ids = [(d["device"], d["stream"], d["seq"])]
        elif batch.is_batch(m.payload):
            ids = [r.identity for r in batch.decode(m.payload)[1]]
        else:
            continue
        for i in ids:
            seen[i] = seen.get(i, 0) + 1
    return seen


def _fill(path, n_agg=3000, n_alert=20, n_raw=2000):
    with Log.open(path, device=THING, free_floor_bytes=0) as lg:
        for _ in range(0, n_agg, 100):
            lg.append_batch(
                "agg/bme280@0x76",
                "aggregate",
                [{"mean": 20 + j / 100, "count": 10} for j in range(100)],
            )
        for i in range(n_alert):
            lg.append("alert/bme280@0x76", "alert", {"severity": "warning", "n": i})
        lg.append_batch("env/bme280@0x76", "raw", [{"t": j / 10} for j in range(n_raw)])
    return (
        {(THING, "agg/bme280@0x76", s) for s in range(1, n_agg + 1)}
        | {(THING, "alert/bme280@0x76", s) for s in range(1, n_alert + 1)}
        | {(THING, "env/bme280@0x76", s) for s in range(1, n_raw + 1)}
    )


def test_outage_in_the_middle_loses_nothing_and_limits_hold(world):
    cloud, log_path, run, server = world
    expected = _fill(log_path, n_agg=30_000)
    cloud.set_online(False)  # the site is offline when the uplink starts
    proc = run()
    # The nucleus spools what the uplink hands it until the spool is full, then refuses.
    wait_for(
        lambda: server.stats()["mqtt"]["spooled_messages"] > 0 or proc.poll() is not None,
        timeout_s=30,
        what="the nucleus to spool",
    )
    assert proc.poll() is None, proc.stdout.read()
    assert cloud.received == []
    cloud.set_online(True)
    wait_for(
        lambda: expected <= set(_delivered(cloud)), timeout_s=90, what="every record in the cloud"
    )
    # Alerts were drained first: every alert precedes every aggregate batch.
    kinds = [m.topic.rsplit("/", 1)[1] for m in cloud.received]
    assert max(i for i, k in enumerate(kinds) if k == "alert") < min(
        i for i, k in enumerate(kinds) if k == "agg"
    )
    assert cloud.limit_violations() == 0


def test_killed_uplink_redelivers_at_least_once(world):
    cloud, log_path, run, _server = world
    expected = _fill(log_path, n_agg=20_000, n_alert=5, n_raw=0)
    proc = run()
    wait_for(
        lambda: len(_delivered(cloud)) > 1000, timeout_s=60, what="a first part of the backlog"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run()
    wait_for(
        lambda: expected <= set(_delivered(cloud)),
        timeout_s=90,
        what="every record after the restart",
    )
    assert cloud.limit_violations() == 0


def test_malformed_and_unknown_commands_are_answered_with_an_error(world):
    cloud, log_path, run, _server = world
    Log.open(log_path, device=THING, free_floor_bytes=0).close()
    proc = run()
    wait_for(lambda: cloud.subscription_count > 0, timeout_s=30, what="the command subscription")
    cmd = f"floorline/plant-1/{THING}/cmd"
    cloud.send_to_device(cmd, b"{not json")
    cloud.send_to_device(cmd, dumps({"id": "c2", "command": "reboot"}))
    cloud.send_to_device(cmd, dumps({"id": "c3", "command": "flush"}))

    def replies():
        return [json.loads(m.payload) for m in cloud.received if m.topic.endswith("/reply")]

    wait_for(lambda: len(replies()) >= 3, timeout_s=30, what="three replies")
    by_id = {r["id"]: r for r in replies()}
    assert by_id[None]["ok"] is False and "not JSON" in by_id[None]["error"]
    assert by_id["c2"]["ok"] is False and "unknown command" in by_id["c2"]["error"]
    assert by_id["c3"]["ok"] is True
    assert proc.poll() is None  # still running


@pytest.mark.parametrize("world", FLAVOURS, indirect=True)
def test_shadow_reports_backlog_and_rejects_bad_desired_config(world):
    """Through IoT Core's shadow topics, on both nuclei (nucleus lite has no shadow IPC)."""
    cloud, log_path, run, server = world
    _fill(log_path, n_agg=100, n_alert=0, n_raw=10)
    # The aggregates wait for a fuller batch, so the first report must count all of them.
    server.config.set_component(
        UPLINK, config(log_path, batchMaxDelaySeconds=3600, batchMinRecords=100_000)
    )
    service = cloud.shadow_service
    bad = {"state": {"desired": {"uplink": {"iotPublishesPerSecond": -5}}}}
    service.update_from_cloud(THING, SHADOW_NAME, dumps(bad))  # read at start: get/accepted
    proc = run()
    wait_for(
        lambda: "config_error" in (_reported(service.store) or {}),
        timeout_s=30,
        what="the rejection",
    )
    rep = _reported(service.store)
    assert rep["log"]["backlog"]["aggregate"]["records"] == 100
    assert rep["clock_synced"] is True
    assert "iotPublishesPerSecond" in rep["config_error"]
    worse = {"state": {"desired": {"uplink": {"batchMinRecords": -1}}}}
    service.update_from_cloud(THING, SHADOW_NAME, dumps(worse))  # reaches it as a delta
    wait_for(
        lambda: "batchMinRecords" in _reported(service.store).get("config_error", ""),
        timeout_s=30,
        what="the delta's rejection",
    )
    # Not JSON on the delta topic: counted by the uplink, which keeps running and reporting.
    cloud.send_to_device(f"$aws/things/{THING}/shadow/name/{SHADOW_NAME}/update/delta", b"{")
    before = service.stats["requests"]
    wait_for(
        lambda: service.stats["requests"] > before + 1, timeout_s=10, what="reports after bad input"
    )
    assert proc.poll() is None


def _reported(shadows):
    try:
        doc = shadows.get(THING, SHADOW_NAME)
    except Exception:
        return None
    return doc.get("state", {}).get("reported")


def test_raw_readings_reach_kinesis_through_stream_manager_across_its_restart(world, tmp_path):
    from edge_sim.stream_manager import MemoryKinesis, StreamManagerServer

    cloud, log_path, _run, server = world
    store = server.config
    expected = _fill(log_path, n_agg=0, n_alert=0, n_raw=30_000)
    kinesis = MemoryKinesis()
    sm = StreamManagerServer(tmp_path / "sm", auth_tokens={TOKEN}, sink=kinesis, speed=600.0)
    sm.start()
    try:
        env = {
            "STREAM_MANAGER_SERVER_PORT": str(sm.port),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
        }
        store.set_component(
            UPLINK, config(log_path, useKinesis=True, kinesisMaxRecordBytes=16 * 1024)
        )
        proc = start_uplink(server.socket_path, env)
        try:

            def got():
                return {
                    r.identity
                    for _k, data in kinesis.records("floorline-raw")
                    for r in batch.decode(data)[1]
                }

            wait_for(lambda: len(got()) > 5000, timeout_s=60, what="a first part in Kinesis")
            port = sm.port
            sm.stop()  # Stream Manager restarts; the uplink retries until it is back
            sm = StreamManagerServer(
                tmp_path / "sm", auth_tokens={TOKEN}, sink=kinesis, speed=600.0, port=port
            )
            sm.start()
            wait_for(lambda: expected <= got(), timeout_s=90, what="every raw reading in Kinesis")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    finally:
        sm.stop()
