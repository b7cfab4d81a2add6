"""Fixtures: one real Mosquitto per test module, a cloud subscriber, device connections."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_sim.broker import Broker, MqttCloudConnection


class Inbox:
    """Messages a subscriber received, with a way to wait for a specific one."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()

    def add(self, topic: str, payload: bytes) -> None:
        with self._cond:
            self.messages.append((topic, payload))
            self._cond.notify_all()

    def wait_for(self, payload: bytes, timeout_s: float = 15.0) -> None:
        with self._cond:
            if not self._cond.wait_for(
                lambda: any(p == payload for _, p in self.messages), timeout_s
            ):
                raise AssertionError(f"{payload!r} never arrived; got {self.messages}")

    def payloads(self) -> list[bytes]:
        with self._cond:
            return [p for _, p in self.messages]


@pytest.fixture
def new_inbox() -> Callable[[], Inbox]:
    return Inbox


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with Broker(Path(tmp_path_factory.mktemp("broker"))) as b:
        yield b


@pytest.fixture
def cloud_inbox(broker: Broker) -> Iterator[Callable[[str], Inbox]]:
    clients = []

    def subscribe(topic_filter: str) -> Inbox:
        inbox = Inbox()
        client = broker.cloud_client()
        client.on_message = lambda c, u, m: inbox.add(m.topic, m.payload)
        subscribed = threading.Event()
        client.on_subscribe = lambda *a: subscribed.set()
        client.subscribe(topic_filter, qos=1)
        assert subscribed.wait(10)
        clients.append(client)
        return inbox

    yield subscribe
    for c in clients:
        c.disconnect()
        c.loop_stop()


@pytest.fixture
def cloud_send(broker: Broker) -> Callable[[str, bytes], None]:
    """Publish from the cloud side (QoS 1) and wait until the broker has it."""

    def send(topic: str, payload: bytes) -> None:
        client = broker.cloud_client()
        try:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()

    return send


@pytest.fixture
def device(broker: Broker) -> Iterator[Callable[..., MqttCloudConnection]]:
    conns: list[MqttCloudConnection] = []

    def make(thing: str, **kwargs) -> MqttCloudConnection:
        conn = MqttCloudConnection(broker, thing, **kwargs)
        conn.connect()
        conns.append(conn)
        return conn

    yield make
    for c in conns:
        c.disconnect()
