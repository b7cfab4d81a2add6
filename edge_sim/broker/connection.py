"""A simulated nucleus' MQTT connection to the local IoT Core.

Built with awsiotsdk's `mqtt_connection_builder.mtls_from_path`, i.e. the AWS CRT MQTT 3.1.1
client, the same library family the Greengrass nucleus uses to reach IoT Core. It connects
through the device's `NetworkLink`, so a simulated outage is a real dropped socket, and
reconnects by itself (persistent session: subscriptions and queued QoS 1 messages survive).

It is the nucleus' `CloudConnection` (edge_sim.nucleus.cloud): `online`, a blocking
`publish` that raises `CloudOffline` / `CloudError`, and `subscribe` returning a cancel
function. `publish_async` / `subscribe_async` give the CRT futures directly.

    conn = MqttCloudConnection(broker, "dev-001")
    conn.add_listener(lambda online: ...)
    conn.connect()
    cancel = conn.subscribe(topics.command_topic("site", "dev-001"), on_command)
    conn.publish(topic, payload, qos=1)            # returns on PUBACK
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from awscrt import mqtt
from awscrt.exceptions import AwsCrtError
from awsiot import mqtt_connection_builder

from edge_sim.nucleus.cloud import CloudError, CloudOffline

from .broker import Broker

log = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes], None]
ConnectionListener = Callable[[bool], None]


class MqttCloudConnection:
    def __init__(
        self,
        broker: Broker,
        thing: str,
        via_link: bool = True,
        keep_alive_s: int = 30,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 8,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self.thing = thing
        self.publish_timeout_s = publish_timeout_s
        files = broker.issue_device_cert(thing)
        port = broker.link(thing).port if via_link else broker.port
        self._listeners: list[ConnectionListener] = []
        self._online = threading.Event()
        self.interruptions = 0
        self._conn = mqtt_connection_builder.mtls_from_path(
            endpoint="127.0.0.1",
            port=port,
            cert_filepath=str(files.cert),
            pri_key_filepath=str(files.key),
            ca_filepath=str(files.ca),
            client_id=thing,
            clean_session=False,
            keep_alive_secs=keep_alive_s,
            reconnect_min_timeout_secs=reconnect_min_s,
            reconnect_max_timeout_secs=reconnect_max_s,
            on_connection_interrupted=self._on_interrupted,
            on_connection_resumed=self._on_resumed,
        )

    # ---- connection state ----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._online.is_set()

    @property
    def online(self) -> bool:
        """CloudConnection's name for `connected`."""
        return self._online.is_set()

    def add_listener(self, listener: ConnectionListener) -> None:
        """`listener(True)` when the connection comes up or resumes, `(False)` when lost."""
        self._listeners.append(listener)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._online.wait(timeout_s)

    def _notify(self, online: bool) -> None:
        if online:
            self._online.set()
        else:
            self._online.clear()
        for listener in list(self._listeners):
            try:
                listener(online)
            except Exception:  # noqa: BLE001 - a listener's bug must not break the connection
                log.exception("event=connection_listener_failed thing=%s", self.thing)

    def _on_interrupted(self, connection: mqtt.Connection, error: Exception, **kwargs) -> None:
        self.interruptions += 1
        log.info("event=mqtt_interrupted thing=%s error=%r", self.thing, str(error))
        self._notify(False)

    def _on_resumed(
        self,
        connection: mqtt.Connection,
        return_code: mqtt.ConnectReturnCode,
        session_present: bool,
        **kwargs,
    ) -> None:
        log.info(
            "event=mqtt_resumed thing=%s rc=%s session_present=%s",
            self.thing,
            return_code,
            session_present,
        )
        if return_code == mqtt.ConnectReturnCode.ACCEPTED:
            self._notify(True)

    # ---- operations ----------------------------------------------------------------------

    def connect(self, timeout_s: float = 10.0) -> None:
        """First connection; raises if the broker refuses (e.g. a revoked certificate)."""
        self._conn.connect().result(timeout_s)
        self._notify(True)

    def disconnect(self, timeout_s: float = 10.0) -> None:
        try:
            self._conn.disconnect().result(timeout_s)
        finally:
            self._notify(False)

    def publish_async(self, topic: str, payload: bytes, qos: int = 1) -> Future[Any]:
        """Future completes on send (QoS 0) or PUBACK (QoS 1). While offline the CRT client
        holds the publish and sends it once the connection resumes."""
        future, _packet_id = self._conn.publish(topic, payload, mqtt.QoS(qos))
        return future

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """CloudConnection.publish: returns once the broker has it (PUBACK for QoS 1).

        Raises CloudOffline when not connected (the caller keeps the message), CloudError
        when the broker does not acknowledge in time (the caller retries: at-least-once).
        """
        if not self.online:
            raise CloudOffline(f"{self.thing} is not connected")
        future = self.publish_async(topic, payload, qos)
        try:
            future.result(self.publish_timeout_s)
        except concurrent.futures.TimeoutError:
            raise CloudError(
                f"no acknowledgement for {topic} within {self.publish_timeout_s} s"
            ) from None
        except AwsCrtError as exc:
            raise CloudError(f"publish to {topic} failed: {exc.name}") from exc

    def subscribe_async(
        self, topic_filter: str, callback: MessageCallback, qos: int = 1
    ) -> Future[Any]:
        """Future completes on SUBACK; fails with awscrt.mqtt.SubscribeError if refused."""

        def on_message(topic: str, payload: bytes, **kwargs) -> None:
            callback(topic, payload)

        future, _packet_id = self._conn.subscribe(topic_filter, mqtt.QoS(qos), on_message)
        return future

    def subscribe(
        self, topic_filter: str, callback: MessageCallback, qos: int = 1
    ) -> Callable[[], None]:
        """CloudConnection.subscribe: kept across outages (persistent session). Waits for the
        SUBACK when online; offline, the client sends the SUBSCRIBE on reconnect. Returns the
        function that unsubscribes."""
        future = self.subscribe_async(topic_filter, callback, qos)
        if self.online:
            try:
                future.result(self.publish_timeout_s)
            except concurrent.futures.TimeoutError:
                raise CloudError(f"no SUBACK for {topic_filter}") from None
            except (AwsCrtError, mqtt.SubscribeError) as exc:
                raise CloudError(f"subscription to {topic_filter} refused: {exc}") from exc

        def cancel() -> None:
            self._conn.unsubscribe(topic_filter)

        return cancel
