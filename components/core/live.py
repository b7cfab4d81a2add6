"""Best-effort live values on Greengrass local pub/sub, over the core IPC adapter.

Live values are a convenience for dashboards on the site: the durable log is the record. With no
nucleus publishing is skipped; a failed publish is counted and logged, never retried and never
allowed to stop a reading from reaching the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from components.core import topics
from components.core.ipc import Greengrass

log = logging.getLogger("floorline.live")


class LivePublisher:
    """Publishes on floorline/live/<component>/<stream> (components.core.topics)."""

    def __init__(self, gg: Greengrass | None, component: str, *, enabled: bool = True) -> None:
        self.gg = gg
        self.component = component
        self.active = enabled and gg is not None
        self.published = 0
        self.failed = 0

    def topic(self, stream: str) -> str:
        return topics.live_topic(self.component, stream)

    def publish(self, stream: str, message: Mapping[str, Any]) -> None:
        if not self.active or self.gg is None:
            return
        try:
            self.gg.publish_local(self.topic(stream), dict(message))
            self.published += 1
        except Exception as exc:  # best effort by design: any IPC failure is counted and logged
            self.failed += 1
            # A refusal repeats with every reading: log the 1st, 2nd, 4th, 8th ... time.
            if self.failed & (self.failed - 1) == 0:
                log.warning("event=live_publish_failed stream=%s failures=%d reason=%r",
                            stream, self.failed, exc)
