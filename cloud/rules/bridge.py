"""The rules engine on an MQTT broker: the local stand-in for IoT Core's rules.

Subscribes to exactly the FROM filters of the rules (plus each rule's Basic Ingest topic
`$aws/rules/<rule>/#`), runs every message through a RulesEngine and performs `republish`
actions on the same broker. Other actions go to the handlers given.

MQTT does not tell a subscriber who published, so `clientid()` comes from `clientid_of(topic)`:
by default the thing segment of a floorline topic, which is what IoT Core reports for a
Greengrass core (it connects with its thing name, and the IoT policy enforces it).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import paho.mqtt.client as mqtt

from cloud.iot_sql import parse
from cloud.iot_sql.message import BASIC_INGEST_PREFIX
from cloud.rules.definitions import REPUBLISH, TopicRule
from cloud.rules.engine import RuleRun, RulesEngine
from cloud.rules.handlers import ActionCall, ActionFailed, ActionHandler
from components.core import topics
from components.core.clock import Clock

log = logging.getLogger(__name__)


def thing_from_topic(topic: str) -> str:
    try:
        return topics.parse(topic)[1]
    except topics.TopicError:
        return "n/a"


class BrokerBridge:
    def __init__(
        self,
        rules: Sequence[TopicRule],
        handlers: Mapping[str, ActionHandler],
        *,
        host: str,
        port: int,
        clock: Clock,
        client_id: str = "floorline-rules",
        clientid_of: Callable[[str], str] = thing_from_topic,
        on_run: Callable[[str, list[RuleRun]], None] | None = None,
        tls: tuple[str, str, str] | None = None,
    ) -> None:
        """`tls`: (CA file, certificate, key) for a broker that wants mutual TLS."""
        self.engine = RulesEngine(rules, {**handlers, REPUBLISH: self._republish})
        self.filters = sorted({parse(rule.sql).topic_filter for rule in rules})
        self.filters += [f"{BASIC_INGEST_PREFIX}{rule.name}/#" for rule in rules]
        self.clock = clock
        self.clientid_of = clientid_of
        self.on_run = on_run
        self.stats: Counter[str] = Counter()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if tls is not None:
            ca, cert, key = tls
            self._client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and return once every subscription is acknowledged."""
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"no SUBACK from {self._host}:{self._port} in {timeout_s} s")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: mqtt.ReasonCode, properties: object) -> None:  # fmt: skip
        if reason.is_failure:
            log.error("event=bridge_connect_failed reason=%s", reason)
            self.stats["connect_failures"] += 1
            return
        client.subscribe([(topic_filter, 1) for topic_filter in self.filters])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int,
                      reasons: list[mqtt.ReasonCode], properties: object) -> None:  # fmt: skip
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("event=bridge_subscribe_refused reasons=%s", refused)
            self.stats["subscribe_refused"] += len(refused)
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.stats["messages"] += 1
        runs = self.engine.publish(
            msg.topic,
            bytes(msg.payload),
            clientid=self.clientid_of(msg.topic),
            timestamp_ms=self.clock.wall_ms(),
        )
        if self.on_run is not None:
            self.on_run(msg.topic, runs)

    def _republish(self, call: ActionCall) -> None:
        topic = call.params["topic"]
        if topic.startswith("$$"):
            topic = topic[1:]  # the guide: `$$` republishes to a reserved `$` topic
        info = self._client.publish(topic, call.payload, qos=int(call.params.get("qos", 0)))
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ActionFailed(f"broker refused the publish: {mqtt.error_string(info.rc)}", topic)
