"""Best-effort live values on Greengrass local pub/sub.

Live values are a convenience for dashboards on the site: the durable log is the record. With no
nucleus (no IPC socket in the environment) publishing is skipped; a failed publish is counted
and logged, never retried and never allowed to stop a reading from reaching the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("floorline.live")

IPC_SOCKET_ENV = "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"


class LivePublisher:
    def __init__(self, topic_prefix: str, *, enabled: bool = True,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.topic_prefix = topic_prefix.rstrip("/")
        self.published = 0
        self.failed = 0
        self._client: Any = None
        self.active = enabled and bool(env.get(IPC_SOCKET_ENV))
        if self.active:
            try:
                from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

                self._client = GreengrassCoreIPCClientV2()
            except Exception as exc:  # noqa: BLE001 — any connect failure only disables live values
                log.warning("event=live_disabled reason=%r", exc)
                self.active = False

    def publish(self, stream: str, message: Mapping[str, Any]) -> None:
        if not self.active:
            return
        from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

        try:
            self._client.publish_to_topic(
                topic=f"{self.topic_prefix}/{stream}",
                publish_message=PublishMessage(json_message=JsonMessage(message=dict(message))),
            )
            self.published += 1
        except Exception as exc:  # noqa: BLE001 — best effort by design; counted and logged
            self.failed += 1
            log.warning("event=live_publish_failed stream=%s reason=%r", stream, exc)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
