"""Nucleus spool semantics and IoT Core's per-device limits, against the in-memory cloud."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from waiting import wait_for

from components.core.clock import ManualClock
from components.core.limits import (
    MQTT_BYTES_PER_S,
    MQTT_MAX_PAYLOAD_BYTES,
    MQTT_PUBLISHES_PER_S,
    SPOOL_MAX_BYTES,
)
from edge_sim.nucleus.cloud import CloudOffline, InMemoryCloud, RateMonitor
from edge_sim.nucleus.mqtt_proxy import (
    InvalidPublish,
    MqttProxy,
    OfflineRefused,
    Spool,
    SpooledMessage,
    SpoolFull,
)
from edge_sim.nucleus.ratelimit import TokenBucket

TOPIC = "floorline/s1/dev-1/agg"


@pytest.fixture
def cloud() -> InMemoryCloud:
    return InMemoryCloud()


@pytest.fixture
def proxy(cloud: InMemoryCloud) -> Iterator[MqttProxy]:
    p = MqttProxy(cloud)
    p.start()
    yield p
    p.stop()


# -- pure parts --
def test_token_bucket_rate_burst_and_debt() -> None:
    bucket = TokenBucket(rate_per_s=10, capacity=5, now_ns=0)
    assert all(bucket.try_take(1, 0) for _ in range(5))
    assert not bucket.try_take(1, 0)
    assert bucket.wait_s(1, 0) == pytest.approx(0.1)
    assert bucket.try_take(1, 100_000_000)
    # Bigger than the capacity: allowed from a full bucket, leaves it in debt.
    assert bucket.try_take(50, 10_000_000_000)
    assert bucket.wait_s(1, 10_000_000_000) == pytest.approx(4.6)
    with pytest.raises(ValueError):
        TokenBucket(0, 1, 0)


def test_spool_evicts_qos0_first_then_refuses() -> None:
    spool = Spool(max_bytes=1000)
    spool.add(SpooledMessage(1, "t", b"a" * 400, 1))
    spool.add(SpooledMessage(2, "t", b"b" * 300, 0))
    spool.add(SpooledMessage(3, "t", b"c" * 300, 0))
    spool.add(SpooledMessage(4, "t", b"d" * 500, 1))  # evicts both QoS 0 messages
    assert spool.evicted_qos0 == 2 and len(spool) == 2 and spool.size_bytes == 900
    with pytest.raises(SpoolFull, match="Message spool is full"):
        spool.add(SpooledMessage(5, "t", b"e" * 200, 1))
    with pytest.raises(SpoolFull):
        spool.add(SpooledMessage(6, "t", b"f" * 1001, 0))
    assert [spool.pop_head().ident for _ in range(2)] == [1, 4]


def test_rate_monitor_counts_violations() -> None:
    clock = ManualClock()
    monitor = RateMonitor(clock)
    assert all(monitor.admit(10) for _ in range(MQTT_PUBLISHES_PER_S))
    assert not monitor.admit(10)
    assert monitor.publish_rate_violations == 1
    clock.advance(1.0)
    assert monitor.admit(MQTT_BYTES_PER_S)
    assert not monitor.admit(1)
    assert monitor.byte_rate_violations == 1


def test_defaults_come_from_the_shared_limits(proxy: MqttProxy) -> None:
    assert proxy.spool.max_bytes == SPOOL_MAX_BYTES == int(2.5 * 1024 * 1024)
    assert proxy.max_message_bytes == MQTT_MAX_PAYLOAD_BYTES == 128 * 1024


# -- accept, refuse, spool --
@pytest.mark.parametrize(
    ("topic", "payload", "qos", "why"),
    [
        (TOPIC, b"x" * (MQTT_MAX_PAYLOAD_BYTES + 1), 1, "exceeds the maximum message size"),
        ("a/" * 8 + "b", b"x", 1, "slashes"),
        ("t" * 257, b"x", 1, "bytes"),
        ("a/+/b", b"x", 1, "wildcards"),
        (TOPIC, b"x", 2, "QoS"),
    ],
)
def test_invalid_publishes_are_refused(
    proxy: MqttProxy, topic: str, payload: bytes, qos: int, why: str
) -> None:
    with pytest.raises(InvalidPublish, match=why):
        proxy.publish(topic, payload, qos)
    assert proxy.snapshot()["refused_invalid"] == 1


def test_rules_prefix_is_exempt_from_the_slash_limit(
    proxy: MqttProxy, cloud: InMemoryCloud
) -> None:
    topic = "$aws/rules/floorline_raw/" + "/".join("abcdefg")  # 6 slashes after the prefix
    proxy.publish(topic, b"x", 1)
    assert proxy.wait_drained(5)
    assert cloud.received[0].topic == topic


def test_offline_qos0_refused_qos1_spooled_and_delivered_in_order(
    proxy: MqttProxy, cloud: InMemoryCloud
) -> None:
    cloud.set_online(False)
    with pytest.raises(OfflineRefused):
        proxy.publish(TOPIC, b"q0", 0)
    for i in range(20):
        proxy.publish(TOPIC, f"m{i}".encode(), 1)  # returns: spooled, not delivered
    assert cloud.received == []
    assert proxy.snapshot()["spooled_messages"] == 20
    cloud.set_online(True)
    assert proxy.wait_drained(5)
    assert [m.payload for m in cloud.received] == [f"m{i}".encode() for i in range(20)]
    snap = proxy.snapshot()
    assert snap["refused_offline_qos0"] == 1 and snap["delivered"] == 20


def test_qos0_spooled_while_online_is_dropped_at_disconnect(cloud: InMemoryCloud) -> None:
    proxy = MqttProxy(cloud)  # drain thread not started: messages stay spooled
    proxy.publish(TOPIC, b"zero", 0)
    proxy.publish(TOPIC, b"one", 1)
    cloud.set_online(False)
    proxy.start()
    try:
        wait_for(
            lambda: proxy.snapshot()["qos0_dropped_offline"] == 1,
            what="the QoS 0 message dropped while offline",
        )
        cloud.set_online(True)
        assert proxy.wait_drained(5)
    finally:
        proxy.stop()
    assert [m.payload for m in cloud.received] == [b"one"]


def test_keep_qos0_when_offline(cloud: InMemoryCloud) -> None:
    proxy = MqttProxy(cloud, keep_qos0_when_offline=True)
    cloud.set_online(False)
    proxy.publish(TOPIC, b"kept", 0)
    proxy.start()
    try:
        cloud.set_online(True)
        assert proxy.wait_drained(5)
    finally:
        proxy.stop()
    assert [m.payload for m in cloud.received] == [b"kept"]


def test_spool_full_while_offline(cloud: InMemoryCloud) -> None:
    proxy = MqttProxy(cloud, spool_max_bytes=10_000)
    cloud.set_online(False)
    for _ in range(10):
        proxy.publish(TOPIC, b"x" * 1000, 1)
    with pytest.raises(SpoolFull, match="Message spool is full"):
        proxy.publish(TOPIC, b"x", 1)
    assert proxy.snapshot()["refused_spool_full"] == 1


def test_cloud_refuses_while_offline(cloud: InMemoryCloud) -> None:
    cloud.set_online(False)
    with pytest.raises(CloudOffline):
        cloud.publish(TOPIC, b"x", 1)
    assert cloud.send_to_device(TOPIC, b"lost") == 0
    assert cloud.stats["lost_offline"] == 1


# -- IoT Core limits --
@pytest.mark.slow
def test_paced_drain_never_exceeds_iot_core_limits(proxy: MqttProxy, cloud: InMemoryCloud) -> None:
    """A burst well over 100 publishes and 512 KiB is delivered whole, inside both limits."""
    for i in range(150):
        proxy.publish(TOPIC, f"{i:06d}".encode() * 100, 1)
    for _ in range(6):
        proxy.publish(TOPIC, b"B" * 120_000, 1)
    assert proxy.wait_drained(15)
    assert len(cloud.received) == 156
    assert cloud.received[0].payload.startswith(b"000000")
    assert cloud.limit_violations() == 0
    assert cloud.stats["throttled"] == 0
    assert proxy.snapshot()["paced_waits"] > 0  # the pacer really had to hold messages back


def test_an_unpaced_sender_is_throttled_and_counted(cloud: InMemoryCloud) -> None:
    """Negative control: a nucleus pacing at 10x the limit trips IoT Core's limit; QoS 1
    messages are retried until accepted, so nothing is lost, but the violations are visible."""
    proxy = MqttProxy(cloud, publishes_per_s=10 * MQTT_PUBLISHES_PER_S)
    proxy.start()
    try:
        for i in range(150):
            proxy.publish(TOPIC, str(i).encode(), 1)
        assert proxy.wait_drained(15)
    finally:
        proxy.stop()
    assert cloud.limit_violations() > 0
    assert cloud.stats["throttled"] > 0 and proxy.snapshot()["retries"] > 0
    assert [m.payload for m in cloud.received] == [str(i).encode() for i in range(150)]


def test_cloud_subscriptions_are_shared_per_filter(proxy: MqttProxy, cloud: InMemoryCloud) -> None:
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    cancel_a = proxy.subscribe("floorline/+/dev-1/cmd", lambda _t, p: got_a.append(p))
    cancel_b = proxy.subscribe("floorline/+/dev-1/cmd", lambda _t, p: got_b.append(p))
    assert cloud.subscription_count == 1
    cloud.send_to_device("floorline/s/dev-1/cmd", b"go")
    assert got_a == got_b == [b"go"]
    cancel_a()
    assert cloud.subscription_count == 1
    cancel_b()
    assert cloud.subscription_count == 0


def test_sustained_traffic_in_virtual_time_stays_inside_both_limits() -> None:
    """A minute and more of mixed traffic at full pace, on a virtual clock: never over either
    limit, and the pacer still uses most of the budget it has."""
    clock = ManualClock()
    cloud = InMemoryCloud(clock)
    proxy = MqttProxy(cloud, clock, spool_max_bytes=256 * 1024 * 1024, sleep=clock.advance)
    rng = random.Random(7)
    sizes = [
        rng.randint(64_000, MQTT_MAX_PAYLOAD_BYTES) if rng.random() < 0.1 else rng.randint(10, 2000)
        for _ in range(3000)
    ]
    for i, size in enumerate(sizes):
        proxy.publish(f"floorline/s1/dev-1/k{i % 7}", b"p" * size, 1)
    wire_bytes = sum(sizes) + sum(len(f"floorline/s1/dev-1/k{i % 7}") for i in range(3000))
    start_ns = clock.monotonic_ns()
    proxy.start()
    try:
        assert proxy.wait_drained(60)
    finally:
        proxy.stop()
    elapsed_s = (clock.monotonic_ns() - start_ns) / 1e9
    assert len(cloud.received) == 3000
    assert cloud.limit_violations() == 0 and cloud.stats["throttled"] == 0
    floor_s = max(wire_bytes / MQTT_BYTES_PER_S, 3000 / MQTT_PUBLISHES_PER_S)
    print(f"virtual drain {elapsed_s:.1f} s, limit floor {floor_s:.1f} s")
    assert floor_s * 0.9 <= elapsed_s <= floor_s * 1.1, (elapsed_s, floor_s)
