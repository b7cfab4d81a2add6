"""Load mode against a real Mosquitto, the rules bridge and the lake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloud.lake.query import query
from cloud.lake.store import Lake
from components.core.clock import SystemClock
from edge_sim.broker import Broker, LocalCA
from edge_sim.load import LoadPlan, LoadRun
from edge_sim.load_client import STREAM_NAMES, DeviceClient, LoadConnectError, device_context


@pytest.mark.slow
def test_every_acknowledged_batch_reaches_the_lake_exactly_once(tmp_path: Path) -> None:
    plan = LoadPlan(devices=20, duration_s=3, rate_hz=2, workers=2, lake_buffer_s=0.5)
    res = LoadRun(plan, tmp_path).run()
    assert res.connected == 20 and not res.refused
    assert res.acked == res.sent == plan.batches == 120
    assert res.exactly_once and res.duplicates_in_lake == 0 and res.quarantined == 0

    # Independently of the run's own reckoning: read the lake back.
    with Lake(tmp_path / "lake", clock=SystemClock()) as lake:
        _, rows = query(lake, "SELECT device, stream, count(*), count(DISTINCT seq), min(seq), "
                              "max(seq) FROM telemetry GROUP BY ALL")  # fmt: skip
    assert len(rows) == 20 * len(STREAM_NAMES)
    assert {r[0] for r in rows} == set(plan.things)
    for _device, _stream, n, distinct, first, last in rows:
        assert (n, distinct, first, last) == (6, 6, 1, 6)  # gapless, once each
    assert res.rows_in_lake == 120 * len(STREAM_NAMES)
    assert res.lag_ms["max"] >= 0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with Broker(tmp_path_factory.mktemp("broker")) as b:
        yield b


def _connect(broker: Broker, thing: str, cert: str | None, key: str | None) -> None:
    async def go() -> None:
        client = await DeviceClient.connect(thing, "127.0.0.1", broker.port,
                                            device_context(str(broker.ca_path), cert, key),
                                            timeout_s=10)  # fmt: skip
        await client.close()

    asyncio.run(go())


@pytest.mark.slow
def test_a_client_with_its_certificate_connects(broker: Broker) -> None:
    files = broker.issue_device_cert("load-ok")
    _connect(broker, "load-ok", str(files.cert), str(files.key))


@pytest.mark.slow
def test_a_client_without_a_certificate_is_refused(broker: Broker) -> None:
    with pytest.raises(LoadConnectError):
        _connect(broker, "load-anon", None, None)


@pytest.mark.slow
def test_a_certificate_from_another_ca_is_refused(broker: Broker, tmp_path: Path) -> None:
    stranger = LocalCA(tmp_path / "other-ca").issue_client("load-stranger")
    with pytest.raises(LoadConnectError):
        _connect(broker, "load-stranger", str(stranger.cert), str(stranger.key))


@pytest.mark.slow
def test_the_load_command_prints_and_writes_its_summary(tmp_path: Path) -> None:
    import json

    from edge_sim.cli import main

    assert main(["load", "--devices", "5", "--duration", "2", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "load-summary.json").read_text())
    assert summary["exactly_once"] and summary["acked"] == summary["sent"] == 10
    assert summary["rows_in_lake"] == 10 * len(STREAM_NAMES)
