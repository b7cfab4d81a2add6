"""The rules engine behind a real Mosquitto broker, as the simulation runs it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from rules_broker import WAIT_S, Mosquitto
from waiting import wait_for

from cloud.rules import definitions as d
from cloud.rules.bridge import BrokerBridge
from cloud.rules.handlers import MemoryBucket, MemoryStream, MemoryTable, MemoryTopic
from components.core import batch, topics
from components.core.clock import ManualClock
from components.core.envelope import Record


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    mosquitto = Mosquitto(tmp_path)
    mosquitto.start()
    yield mosquitto.port
    mosquitto.stop()


def _client(port: int, name: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


@pytest.mark.slow
def test_device_publishes_flow_through_rules_on_the_broker(
    broker: int, make_records: Callable[..., list[Record]]
) -> None:
    stream, table, sns = MemoryStream(), MemoryTable(d.STATE_PARTITION_KEY), MemoryTopic()
    handlers = {d.KINESIS: stream, d.DYNAMODB_V2: table, d.SNS: sns, d.S3: MemoryBucket()}
    clock = ManualClock(wall_ms=1_795_000_000_000)
    bridge = BrokerBridge(d.RULES, handlers, host="127.0.0.1", port=broker, clock=clock)
    bridge.start()
    ops_messages: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    ops = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dashboard")
    ops.on_message = lambda c, u, m: ops_messages.append((m.topic, bytes(m.payload)))
    ops.on_subscribe = lambda *args: subscribed.set()
    ops.connect("127.0.0.1", broker)
    ops.loop_start()
    ops.subscribe(topics.ops_topic("plant-7", topics.ALERT), qos=1)
    assert subscribed.wait(WAIT_S)
    device = _client(broker, "dev-001")
    try:
        data = batch.encode(
            make_records(cls="health", stream="sys/health", count=4), site="plant-7"
        )
        device.publish(topics.device_topic("plant-7", "dev-001", topics.HEALTH), data, qos=1)
        alert = make_records(cls="alert", stream="vib/adxl345@0x53", count=1)[0]
        device.publish(
            topics.device_topic("plant-7", "dev-001", topics.ALERT),
            json.dumps(alert.to_dict()), qos=1,
        )  # fmt: skip
        wait_for(lambda: len(ops_messages) == 1 and len(stream.records) == 2)
    finally:
        device.loop_stop()
        ops.loop_stop()
        bridge.stop()
    assert stream.records[0] == ("dev-001", data)  # the batch, then the alert envelope
    assert json.loads(stream.records[1][1])["seq"] == alert.seq
    assert table.items["dev-001"]["client_id"] == "dev-001"
    ((topic, payload),) = ops_messages
    assert (
        json.loads(payload)["seq"] == alert.seq and json.loads(sns.messages[0])["site"] == "plant-7"
    )
    assert bridge.stats["messages"] == 2
    kinds = (topics.AGGREGATE, topics.EVENT, topics.HEALTH, topics.RAW, topics.ALERT)
    assert set(bridge.filters) == {topics.cloud_filter(kind) for kind in kinds} | {
        f"$aws/rules/{rule.name}/#" for rule in d.RULES
    }
