"""Best-effort live values on Greengrass local pub/sub, over the core IPC adapter.

Live values are a convenience for dashboards on the site: the durable log is the record. With no
nucleus publishing is skipped; a failed publish is counted and logged, never retried and never
allowed to stop a reading from reaching the log. Nor to delay it: a publish does not wait for
the nucleus's answer (a busy nucleus would otherwise stretch every sampling interval), and
while too many answers are outstanding new values are dropped and counted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future
from typing import Any

from components.core import topics
from components.core.ipc import Greengrass

log = logging.getLogger("floorline.live")

MAX_IN_FLIGHT = 64  # a few seconds of every stream: more means the nucleus is not answering


class LivePublisher:
    """Publishes on floorline/live/<component>/<stream> (components.core.topics)."""

    def __init__(self, gg: Greengrass | None, component: str, *, enabled: bool = True) -> None:
        self.gg = gg
        self.component = component
        self.active = enabled and gg is not None
        self.published = 0  # answered by the nucleus
        self.failed = 0  # refused by it, or not sent
        self.dropped = 0  # not sent: too many answers outstanding
        self._in_flight = 0
        self._lock = threading.Lock()  # answers arrive on the IPC client's threads

    def topic(self, stream: str) -> str:
        return topics.live_topic(self.component, stream)

    def publish(self, stream: str, message: Mapping[str, Any]) -> None:
        if not self.active or self.gg is None:
            return
        with self._lock:
            if self._in_flight >= MAX_IN_FLIGHT:
                self.dropped += 1
                return
            self._in_flight += 1
        try:
            answer = self.gg.publish_local(self.topic(stream), dict(message))
        except Exception as exc:  # best effort by design: any IPC failure is counted and logged
            self._settle(stream, exc)
            return
        answer.add_done_callback(lambda f: self._settle(stream, _error(f)))

    def _settle(self, stream: str, error: BaseException | None) -> None:
        with self._lock:
            self._in_flight -= 1
            if error is None:
                self.published += 1
                return
            self.failed += 1
            failed = self.failed
        # A refusal repeats with every reading: log the 1st, 2nd, 4th, 8th ... time.
        if failed & (failed - 1) == 0:
            log.warning(
                "event=live_publish_failed stream=%s failures=%d reason=%r", stream, failed, error
            )


def _error(answer: Future[Any]) -> BaseException | None:
    try:
        return answer.exception()
    except CancelledError as exc:  # the client closed before the nucleus answered
        return exc
