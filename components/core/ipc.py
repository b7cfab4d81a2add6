"""The Greengrass IPC adapter every component uses: the real awsiotsdk client, nothing else.

On a device (and in edge_sim, whose nucleus answers the same wire protocol) the nucleus sets
`SVCUID` and `AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT`; `connect()` then returns a
`Greengrass`. Run outside Greengrass (a developer's shell, a unit test) it returns None and the
component runs standalone on the configuration given in `FLOORLINE_CONFIG` (JSON).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from components.core.config import ConfigHolder, S, Spec

log = logging.getLogger("floorline.ipc")

SOCKET_ENV = "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"
TOKEN_ENV = "SVCUID"
THING_ENV = "AWS_IOT_THING_NAME"
STANDALONE_CONFIG_ENV = "FLOORLINE_CONFIG"
QOS_AT_MOST_ONCE = "0"
QOS_AT_LEAST_ONCE = "1"


def thing_name(default: str = "floorline-dev") -> str:
    return os.environ.get(THING_ENV, default)


class Greengrass:
    """A connected IPC client with the handful of operations floorline uses."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._subs: list[Any] = []
        self._lock = threading.Lock()
        self.update_state_failures = 0

    # --------------------------------------------------------------- configuration
    def get_configuration(self, key_path: list[str] | None = None) -> dict[str, Any]:
        resp = self.client.get_configuration(key_path=key_path or [])
        return dict(resp.value or {})

    def on_configuration_update(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after each configuration change (read it again with get)."""
        _, op = self.client.subscribe_to_configuration_update(
            key_path=[],
            on_stream_event=lambda _event: callback(),
            on_stream_error=_keep_open,
        )
        self._subs.append(op)

    # --------------------------------------------------------------- messaging
    def publish_iot(self, topic: str, payload: bytes, qos: str = QOS_AT_LEAST_ONCE) -> None:
        """Returns when the nucleus has *spooled* the message (not when IoT Core has it)."""
        self.client.publish_to_iot_core(topic_name=topic, qos=qos, payload=payload)

    def publish_iot_async(self, topic: str, payload: bytes, qos: str = QOS_AT_LEAST_ONCE) -> Any:
        return self.client.publish_to_iot_core_async(topic_name=topic, qos=qos, payload=payload)

    def subscribe_iot(self, topic: str, callback: Callable[[str, bytes], None]) -> None:
        def on_event(event: Any) -> None:
            callback(event.message.topic_name, bytes(event.message.payload or b""))

        _, op = self.client.subscribe_to_iot_core(
            topic_name=topic,
            qos=QOS_AT_LEAST_ONCE,
            on_stream_event=on_event,
            on_stream_error=_keep_open,
        )
        self._subs.append(op)

    def publish_local(self, topic: str, message: Mapping[str, Any]) -> Any:
        """A JSON message on Greengrass local pub/sub; returns the future of the nucleus's
        answer (a refusal is its exception) without waiting for it."""
        from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

        return self.client.publish_to_topic_async(
            topic=topic, publish_message=PublishMessage(json_message=JsonMessage(message=message))
        )

    # --------------------------------------------------------------- lifecycle state
    def report_running(self) -> bool:
        """Tell the nucleus the component is running; best effort. Nucleus lite answers
        UpdateState only through gghealthd (systemd), and a component that cannot report its
        state must still run: a refusal is logged and counted, never raised."""
        from awsiot.greengrasscoreipc.model import ReportedLifecycleState

        try:
            self.client.update_state(state=ReportedLifecycleState.RUNNING)
        except Exception as exc:  # ServiceError on nucleus lite without gghealthd
            self.update_state_failures += 1
            log.warning("event=update_state_failed state=RUNNING error=%r", exc)
            return False
        return True

    def close(self) -> None:
        for op in self._subs:
            try:
                op.close()
            except Exception as exc:  # closing a stream the server already closed
                log.debug("event=subscription_close_failed error=%r", exc)
        self.client.close()


def _keep_open(error: Exception) -> bool:
    log.warning("event=ipc_stream_error error=%r", error)
    return False


def connect() -> Greengrass | None:
    """The nucleus connection, or None when not running under Greengrass."""
    if not os.environ.get(SOCKET_ENV) or not os.environ.get(TOKEN_ENV):
        return None
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    return Greengrass(GreengrassCoreIPCClientV2())


def load_config(spec: Spec[S], gg: Greengrass | None) -> ConfigHolder[S]:
    """The component's configuration: from the nucleus, or FLOORLINE_CONFIG standalone.

    A configuration the component cannot accept at start-up is fatal (exit, the nucleus
    reports the component BROKEN); later updates that fail validation are rejected and the
    configuration in force stays (see `follow_updates`)."""
    if gg is not None:
        raw = gg.get_configuration()
    else:
        raw = json.loads(os.environ.get(STANDALONE_CONFIG_ENV) or "{}")
    return ConfigHolder(spec, raw)


def follow_updates(
    holder: ConfigHolder[Any], gg: Greengrass | None, on_applied: Callable[[], None] | None = None
) -> None:
    """Apply configuration updates from the nucleus; a bad one is rejected, counted, logged."""
    if gg is None:
        return

    def changed() -> None:
        err = holder.update(gg.get_configuration())
        if err is None and on_applied is not None:
            on_applied()

    gg.on_configuration_update(changed)
