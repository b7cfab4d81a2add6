"""The nucleus's side of IoT Core: validate, spool, then deliver within IoT Core's limits.

PublishToIoTCore succeeds once the message is *spooled*, not when IoT Core has it:
- payload over `mqtt.maxMessageSizeInBytes` (128 KB) or a topic IoT Core would refuse: refused;
- offline, QoS 0: refused with a service error (unless keepQos0WhenOffline); QoS 1: spooled;
- spool over `mqtt.spooler.maxSizeInBytes` (2.5 MB): QoS 0 messages are evicted oldest first,
  then the publish is refused with "Message spool is full";
- a drain thread sends the spool in order, paced by token buckets under 100 publishes/s and
  512 KiB/s per device (every component shares the one connection), and keeps QoS 1 messages
  through outages and throttling (up to `maxPublishRetry` attempts).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from components.core.clock import Clock, SystemClock
from components.core.limits import (
    MQTT_BYTES_PER_S,
    MQTT_MAX_PAYLOAD_BYTES,
    MQTT_PUBLISHES_PER_S,
    SPOOL_MAX_BYTES,
)
from components.core.topics import TopicError, check_topic
from edge_sim.nucleus.cloud import CloudConnection, CloudError, CloudOffline, MessageCallback
from edge_sim.nucleus.pubsub import check_filter
from edge_sim.nucleus.ratelimit import TokenBucket

MAX_PUBLISH_RETRY: Final = 100
# The pacer banks at most 1/10 s of publishes, and one largest message of bytes: well under
# what IoT Core tolerates (1 s of burst), so delivery jitter never trips its limits.
PACER_BURST_FRACTION: Final = 0.1
RETRY_BACKOFF_S: Final = 0.05
MIN_PACE_SLEEP_S: Final = 0.001


class PublishRefused(RuntimeError):
    """The nucleus refused a PublishToIoTCore (IPC answers ServiceError, as the nucleus does
    for every publish its MQTT client refuses)."""

    def __init__(self, message: str, evidence: object = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class InvalidPublish(PublishRefused):
    """Bad topic, payload size or QoS."""


class OfflineRefused(PublishRefused):
    pass


class SpoolFull(PublishRefused):
    pass


@dataclass
class SpooledMessage:
    ident: int
    topic: str
    payload: bytes
    qos: int
    attempts: int = 0

    @property
    def size_bytes(self) -> int:
        """What the spool budget counts: the payload."""
        return len(self.payload)

    @property
    def wire_bytes(self) -> int:
        """What the per-device byte rate counts: payload and topic."""
        return len(self.payload) + len(self.topic.encode())


class Spool:
    """Ordered, byte-bounded, evicting QoS 0 first when full. Pure; not thread-safe."""

    def __init__(self, max_bytes: int = SPOOL_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._queue: deque[SpooledMessage] = deque()
        self.size_bytes = 0
        self.evicted_qos0 = 0

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, message: SpooledMessage) -> None:
        if message.size_bytes > self.max_bytes:
            raise SpoolFull("Message spool is full", message.size_bytes)
        while self.size_bytes + message.size_bytes > self.max_bytes:
            victim = next((m for m in self._queue if m.qos == 0), None)
            if victim is None:
                raise SpoolFull("Message spool is full", self.size_bytes)
            self._remove(victim)
            self.evicted_qos0 += 1
        self._queue.append(message)
        self.size_bytes += message.size_bytes

    def _remove(self, message: SpooledMessage) -> None:
        self._queue.remove(message)
        self.size_bytes -= message.size_bytes

    def head(self) -> SpooledMessage | None:
        return self._queue[0] if self._queue else None

    def pop_head(self) -> SpooledMessage:
        message = self._queue.popleft()
        self.size_bytes -= message.size_bytes
        return message

    def drop_qos0(self) -> int:
        victims = [m for m in self._queue if m.qos == 0]
        for m in victims:
            self._remove(m)
        return len(victims)


class MqttProxy:
    def __init__(
        self,
        cloud: CloudConnection,
        clock: Clock | None = None,
        spool_max_bytes: int = SPOOL_MAX_BYTES,
        max_message_bytes: int = MQTT_MAX_PAYLOAD_BYTES,
        keep_qos0_when_offline: bool = False,
        publishes_per_s: float = MQTT_PUBLISHES_PER_S,
        bytes_per_s: float = MQTT_BYTES_PER_S,
        max_publish_retry: int = MAX_PUBLISH_RETRY,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cloud = cloud
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self.max_message_bytes = max_message_bytes
        self.keep_qos0_when_offline = keep_qos0_when_offline
        self.max_publish_retry = max_publish_retry
        now = self._clock.monotonic_ns()
        self._publish_bucket = TokenBucket(
            publishes_per_s, max(1.0, publishes_per_s * PACER_BURST_FRACTION), now
        )
        self._byte_bucket = TokenBucket(
            bytes_per_s, max(float(max_message_bytes), bytes_per_s * PACER_BURST_FRACTION), now
        )
        self.spool = Spool(spool_max_bytes)
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._subs: dict[str, tuple[Callable[[], None], dict[int, MessageCallback]]] = {}
        self._sub_ids = itertools.count(1)
        self._sub_lock = threading.Lock()
        self.stats = {
            "accepted": 0,
            "delivered": 0,
            "refused_invalid": 0,
            "refused_offline_qos0": 0,
            "refused_spool_full": 0,
            "qos0_dropped_offline": 0,
            "qos0_dropped_failed": 0,
            "dropped_retries_exhausted": 0,
            "retries": 0,
            "paced_waits": 0,
        }

    # -- publishing --
    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Accept (spool) or refuse one message. Returns once spooled."""
        try:
            if qos not in (0, 1):
                raise InvalidPublish(f"QoS {qos!r} is not supported (0 or 1)", qos)
            try:
                check_topic(topic)
            except TopicError as exc:
                raise InvalidPublish(f"Invalid topic {topic!r}: {exc}", topic) from exc
            if len(payload) > self.max_message_bytes:
                raise InvalidPublish(
                    f"Payload of {len(payload)} bytes exceeds the maximum message size "
                    f"{self.max_message_bytes}",
                    len(payload),
                )
        except InvalidPublish:
            self.stats["refused_invalid"] += 1
            raise
        with self._cond:
            if qos == 0 and not self.cloud.online and not self.keep_qos0_when_offline:
                self.stats["refused_offline_qos0"] += 1
                raise OfflineRefused("Device is offline. QoS 0 message is not spooled", topic)
            try:
                self.spool.add(SpooledMessage(next(self._ids), topic, bytes(payload), qos))
            except SpoolFull:
                self.stats["refused_spool_full"] += 1
                raise
            self.stats["accepted"] += 1
            self._cond.notify_all()

    # -- subscriptions --
    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Callable[[], None]:
        """One cloud subscription per filter, shared by every local subscriber."""
        check_filter(topic_filter)
        with self._sub_lock:
            ident = next(self._sub_ids)
            entry = self._subs.get(topic_filter)
            if entry is None:
                listeners: dict[int, MessageCallback] = {}

                def fan_out(topic: str, payload: bytes) -> None:
                    with self._sub_lock:
                        targets = list(listeners.values())
                    for target in targets:
                        target(topic, payload)

                entry = (self.cloud.subscribe(topic_filter, fan_out), listeners)
                self._subs[topic_filter] = entry
            entry[1][ident] = callback

        def cancel() -> None:
            with self._sub_lock:
                current = self._subs.get(topic_filter)
                if current is None:
                    return
                current[1].pop(ident, None)
                if not current[1]:
                    del self._subs[topic_filter]
                    current[0]()

        return cancel

    # -- the drain thread --
    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="mqtt-spool-drain", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _pace(self, size_bytes: int) -> bool:
        """Wait for both buckets; False if stopping."""
        while not self._stopping:
            now = self._clock.monotonic_ns()
            wait = max(
                self._publish_bucket.wait_s(1, now), self._byte_bucket.wait_s(size_bytes, now)
            )
            if wait <= 0:
                self._publish_bucket.take(1, now)
                self._byte_bucket.take(size_bytes, now)
                return True
            self.stats["paced_waits"] += 1
            # A floor on the nap: a wait rounded below the clock's resolution would spin.
            self._sleep(max(wait, MIN_PACE_SLEEP_S))
        return False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (len(self.spool) == 0 or not self.cloud.online):
                    if not self.cloud.online and not self.keep_qos0_when_offline:
                        self.stats["qos0_dropped_offline"] += self.spool.drop_qos0()
                    # Connection state has no callback in the interface: poll it while waiting.
                    self._cond.wait(timeout=RETRY_BACKOFF_S)
                if self._stopping:
                    return
                message = self.spool.head()
            if message is None or not self._pace(message.wire_bytes):
                continue
            try:
                self.cloud.publish(message.topic, message.payload, message.qos)
            except CloudError as exc:
                self._failed(message, exc)
                continue
            with self._cond:
                if self.spool.head() is message:
                    self.spool.pop_head()
                self.stats["delivered"] += 1

    def _failed(self, message: SpooledMessage, exc: CloudError) -> None:
        with self._cond:
            if self.spool.head() is not message:
                return
            if isinstance(exc, CloudOffline):
                return  # stays spooled; the wait loop handles the outage
            message.attempts += 1
            if message.qos == 0:
                self.spool.pop_head()
                self.stats["qos0_dropped_failed"] += 1
            elif message.attempts > self.max_publish_retry:
                self.spool.pop_head()
                self.stats["dropped_retries_exhausted"] += 1
            else:
                self.stats["retries"] += 1
        self._sleep(RETRY_BACKOFF_S)

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until the spool is empty (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.spool):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=min(left, RETRY_BACKOFF_S))
        return True

    def snapshot(self) -> dict[str, int]:
        with self._cond:
            out = dict(self.stats)
            out["spooled_messages"] = len(self.spool)
            out["spooled_bytes"] = self.spool.size_bytes
            out["qos0_evicted"] = self.spool.evicted_qos0
        return out
