"""The nucleus's connection to IoT Core, as a small pluggable interface, and an in-memory cloud.

The nucleus needs only: `online`, `publish(topic, payload, qos)` and
`subscribe(topic_filter, callback) -> cancel`. The in-memory cloud below plays the IoT Core side
for tests: it enforces the per-connection limits (100 publishes/s, 512 KiB/s) the way IoT Core
does - excess publishes are throttled (refused) - and counts every violation so a test can
assert that the nucleus never exceeded them. A real MQTT connection plugs in behind the same
interface.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from components.core.clock import Clock, SystemClock
from components.core.limits import MQTT_BYTES_PER_S, MQTT_PUBLISHES_PER_S
from edge_sim.nucleus.pubsub import check_filter, topic_matches
from edge_sim.nucleus.ratelimit import TokenBucket
from edge_sim.nucleus.shadow import ShadowStore
from edge_sim.nucleus.shadow_service import ShadowService

MessageCallback = Callable[[str, bytes], None]


class CloudError(RuntimeError):
    """A publish the cloud connection could not complete."""


class CloudOffline(CloudError):
    pass


class CloudThrottled(CloudError):
    """IoT Core refused the publish: the connection exceeded a rate limit."""


class CloudConnection(Protocol):
    @property
    def online(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Deliver one message: return once the broker has it (PUBACK for QoS 1), raise
        CloudOffline when not connected and CloudError (e.g. CloudThrottled) otherwise.
        Called from the spool's drain thread only, one message at a time."""

    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Callable[[], None]:
        """Receive cloud messages matching the filter (kept across outages). The callback may
        run on any thread. Returns the function that cancels the subscription."""


@dataclass(frozen=True)
class CloudMessage:
    topic: str
    payload: bytes
    qos: int
    wall_ms: int


class RateMonitor:
    """IoT Core's view of one connection's rate: 1 s of burst at the allowed rate."""

    def __init__(
        self,
        clock: Clock,
        publishes_per_s: float = MQTT_PUBLISHES_PER_S,
        bytes_per_s: float = MQTT_BYTES_PER_S,
    ) -> None:
        now = clock.monotonic_ns()
        self._clock = clock
        self._publishes = TokenBucket(publishes_per_s, publishes_per_s, now)
        self._bytes = TokenBucket(bytes_per_s, bytes_per_s, now)
        self.publish_rate_violations = 0
        self.byte_rate_violations = 0

    def admit(self, size_bytes: int) -> bool:
        now = self._clock.monotonic_ns()
        publish_ok = self._publishes.wait_s(1, now) == 0
        bytes_ok = self._bytes.wait_s(size_bytes, now) == 0
        if not publish_ok:
            self.publish_rate_violations += 1
        if not bytes_ok:
            self.byte_rate_violations += 1
        if publish_ok and bytes_ok:
            self._publishes.take(1, now)
            self._bytes.take(size_bytes, now)
            return True
        return False


class InMemoryCloud:
    """IoT Core in a list: what the device published, and a way to send it messages."""

    def __init__(
        self,
        clock: Clock | None = None,
        enforce_limits: bool = True,
        shadows: ShadowStore | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        # IoT Core's Device Shadow service, answering on the shadow topics.
        self.shadow_service = (
            ShadowService(shadows, self.send_to_device) if shadows is not None else None
        )
        self._online = True
        self._lock = threading.Lock()
        self._device_subs: dict[int, tuple[str, MessageCallback]] = {}
        self._next_id = 0
        self.received: list[CloudMessage] = []
        self.limits = RateMonitor(self._clock) if enforce_limits else None
        self.stats = {
            "published": 0,
            "published_bytes": 0,
            "refused_offline": 0,
            "throttled": 0,
            "sent_to_device": 0,
            "lost_offline": 0,
        }

    # -- connection side (what the nucleus calls) --
    @property
    def online(self) -> bool:
        return self._online

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        with self._lock:
            if not self._online:
                self.stats["refused_offline"] += 1
                raise CloudOffline("not connected")
            size = len(payload) + len(topic.encode())
            if self.limits is not None and not self.limits.admit(size):
                self.stats["throttled"] += 1
                raise CloudThrottled(f"rate limit exceeded publishing {size} bytes to {topic}")
            self.received.append(CloudMessage(topic, bytes(payload), qos, self._clock.wall_ms()))
            self.stats["published"] += 1
            self.stats["published_bytes"] += len(payload)
        if self.shadow_service is not None and self.shadow_service.handle(topic, payload):
            return  # a shadow request is the service's, not routed to subscribers
        # IoT Core also routes the device's own publish to its matching subscriptions.
        self.send_to_device(topic, payload)

    def subscribe(self, topic_filter: str, callback: MessageCallback) -> Callable[[], None]:
        check_filter(topic_filter)
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            self._device_subs[ident] = (topic_filter, callback)

        def cancel() -> None:
            with self._lock:
                self._device_subs.pop(ident, None)

        return cancel

    # -- cloud side (what tests and the fleet runner call) --
    def set_online(self, online: bool) -> None:
        self._online = online

    def send_to_device(self, topic: str, payload: bytes) -> int:
        """A message from the cloud; delivered to matching device subscriptions if online."""
        with self._lock:
            if not self._online:
                self.stats["lost_offline"] += 1
                return 0
            targets = [cb for f, cb in self._device_subs.values() if topic_matches(f, topic)]
            self.stats["sent_to_device"] += len(targets)
        for callback in targets:
            callback(topic, bytes(payload))
        return len(targets)

    @property
    def subscription_count(self) -> int:
        with self._lock:
            return len(self._device_subs)

    def limit_violations(self) -> int:
        if self.limits is None:
            return 0
        return self.limits.publish_rate_violations + self.limits.byte_rate_violations
