"""The rules bridge's own MQTT subscriber against a real Mosquitto: delivery with QoS 1, a
failing callback, a broker restart, and publishing from the callback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from rules_broker import WAIT_S, Mosquitto
from waiting import wait_for

from cloud.rules.mqtt_subscriber import Subscriber


def _publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    """Publish with QoS 1 from an independent client (paho) and wait for every PUBACK."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sender")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def mosquitto(tmp_path: Path):
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.slow
def test_every_message_arrives_in_order_and_a_failing_callback_costs_only_its_message(
    mosquitto: Mosquitto,
) -> None:
    got: list[tuple[str, bytes]] = []

    def on_message(topic: str, payload: bytes) -> None:
        if payload == b"poison":
            raise ValueError("a handler bug")
        got.append((topic, payload))

    sub = Subscriber("127.0.0.1", mosquitto.port, "bridge", ["site/+/raw", "x/#"], on_message)
    sub.start()
    try:
        sent = [(f"site/dev-{i % 3}/raw", f"m{i}".encode() * (i % 50 + 1)) for i in range(2000)]
        _publish_all(mosquitto.port, [*sent[:1000], ("x/y", b"poison"), *sent[1000:]])
        wait_for(lambda: len(got) == len(sent))
    finally:
        sub.stop()
    assert got == sent
    assert sub.stats["messages"] == len(sent) + 1 and sub.stats["callback_errors"] == 1


@pytest.mark.slow
def test_a_broker_restart_is_survived_with_the_subscriptions_renewed(
    mosquitto: Mosquitto,
) -> None:
    got: list[bytes] = []
    sub = Subscriber("127.0.0.1", mosquitto.port, "bridge", ["a/#"],
                     lambda _t, p: got.append(p), keepalive_s=5)  # fmt: skip
    sub.start()
    try:
        _publish_all(mosquitto.port, [("a/1", b"before")])
        wait_for(lambda: got == [b"before"])
        mosquitto.stop()
        mosquitto.start()
        wait_for(lambda: sub.stats["connection_lost"] == 1 and sub.connected)

        # Resubscribed once connected again: a message published now arrives.
        def published_after() -> bool:
            _publish_all(mosquitto.port, [("a/2", b"after")])
            return b"after" in got

        wait_for(
            published_after,
            timeout_s=WAIT_S,
            interval_s=0.2,
            what="a message after the broker's restart",
        )
    finally:
        sub.stop()
    assert got[0] == b"before" and b"after" in got


@pytest.mark.slow
def test_the_callback_may_publish_on_the_same_connection(mosquitto: Mosquitto) -> None:
    echoed: list[bytes] = []
    listening = threading.Event()
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="listener")
    listener.on_message = lambda c, u, m: echoed.append(bytes(m.payload))
    listener.on_subscribe = lambda *args: listening.set()
    listener.connect("127.0.0.1", mosquitto.port)
    listener.loop_start()
    listener.subscribe("echo/#", qos=1)
    assert listening.wait(WAIT_S)
    holder: list[Subscriber] = []
    sub = Subscriber("127.0.0.1", mosquitto.port, "bridge", ["in/#"],
                     lambda _t, p: holder[0].publish("echo/out", p.upper(), qos=1))  # fmt: skip
    holder.append(sub)
    sub.start()
    try:
        _publish_all(mosquitto.port, [("in/1", b"hello"), ("in/2", b"world")])
        wait_for(lambda: len(echoed) == 2)
        with pytest.raises(RuntimeError):  # another thread may not write on its socket
            sub.publish("echo/out", b"x")
    finally:
        sub.stop()
        listener.loop_stop()
    assert echoed == [b"HELLO", b"WORLD"]


@pytest.mark.slow
def test_qos0_traffic_alone_does_not_let_the_keepalive_lapse(mosquitto: Mosquitto) -> None:
    """Keepalive counts what the client sends; QoS 0 messages get no PUBACK from us, so the
    subscriber must ping even while messages keep arriving (Mosquitto drops a client silent
    for 1.5 x keepalive)."""
    got: list[bytes] = []
    sub = Subscriber("127.0.0.1", mosquitto.port, "bridge", ["q/#"],
                     lambda _t, p: got.append(p), keepalive_s=2)  # fmt: skip
    sub.start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sender0")
    sender.connect("127.0.0.1", mosquitto.port, keepalive=60)
    sender.loop_start()
    try:
        for i in range(45):  # 4.5 s of a message every 0.1 s: never 1 s without one
            sender.publish("q/x", str(i).encode(), qos=0)
            time.sleep(0.1)
        wait_for(lambda: len(got) == 45)
    finally:
        sender.loop_stop()
        sub.stop()
    assert sub.stats["connection_lost"] == 0


@pytest.mark.slow
def test_a_refused_connection_is_an_error_with_the_reason(tmp_path: Path) -> None:
    from cloud.rules.mqtt_subscriber import SubscribeRefused

    broker = Mosquitto(tmp_path, anonymous=False)
    broker.start()
    try:
        sub = Subscriber("127.0.0.1", broker.port, "bridge", ["a/#"], lambda _t, _p: None)
        with pytest.raises(SubscribeRefused, match="not authorized"):
            sub.start()
    finally:
        broker.stop()
    assert sub.stats["connect_failures"] == 1 and not sub.connected
