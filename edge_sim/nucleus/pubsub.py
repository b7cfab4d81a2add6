"""The nucleus's local publish/subscribe bus."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

# Re-exported: the nucleus modules take filter checks from here.
from cloud.mqtt.filters import (  # noqa: F401
    TopicFilterError,
    check_filter,
    topic_matches,
)

RECEIVE_ALL: Final = "RECEIVE_ALL_MESSAGES"
RECEIVE_FROM_OTHERS: Final = "RECEIVE_MESSAGES_FROM_OTHERS"


@dataclass(frozen=True)
class LocalMessage:
    topic: str
    source: str  # publishing component
    json_message: Any = None
    binary_message: bytes | None = None


Delivery = Callable[[LocalMessage], None]


@dataclass
class _Subscriber:
    ident: int
    component: str
    topic_filter: str
    receive_mode: str
    deliver: Delivery


class LocalPubSub:
    """Fan-out by topic filter. `deliver` callbacks run on the publisher's thread; the IPC server
    hands them to its event loop."""

    def __init__(self) -> None:
        self._subs: dict[int, _Subscriber] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.stats = {"published": 0, "delivered": 0}

    def subscribe(
        self, component: str, topic_filter: str, deliver: Delivery, receive_mode: str = RECEIVE_ALL
    ) -> Callable[[], None]:
        check_filter(topic_filter)
        if receive_mode not in (RECEIVE_ALL, RECEIVE_FROM_OTHERS):
            raise TopicFilterError(f"unknown receiveMode {receive_mode!r}")
        with self._lock:
            ident = next(self._ids)
            self._subs[ident] = _Subscriber(ident, component, topic_filter, receive_mode, deliver)

        def cancel() -> None:
            with self._lock:
                self._subs.pop(ident, None)

        return cancel

    def publish(self, message: LocalMessage) -> int:
        """Deliver to every matching subscriber; returns how many received it."""
        with self._lock:
            targets = [
                s
                for s in self._subs.values()
                if topic_matches(s.topic_filter, message.topic)
                and not (s.receive_mode == RECEIVE_FROM_OTHERS and s.component == message.source)
            ]
            self.stats["published"] += 1
            self.stats["delivered"] += len(targets)
        for sub in targets:
            sub.deliver(message)
        return len(targets)

    @property
    def subscription_count(self) -> int:
        with self._lock:
            return len(self._subs)
