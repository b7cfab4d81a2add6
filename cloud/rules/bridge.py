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
import ssl
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from cloud.iot_sql import parse
from cloud.iot_sql.message import BASIC_INGEST_PREFIX
from cloud.rules.definitions import REPUBLISH, TopicRule
from cloud.rules.engine import RuleRun, RulesEngine
from cloud.rules.handlers import ActionCall, ActionFailed, ActionHandler
from cloud.rules.mqtt_subscriber import Subscriber
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
        context = None
        if tls is not None:
            ca, cert, key = tls
            context = ssl.create_default_context(cafile=ca)
            context.load_cert_chain(cert, key)
        self._client = Subscriber(host, port, client_id, self.filters, self._on_message,
                                  tls=context)  # fmt: skip

    @property
    def stats(self) -> Counter[str]:
        """messages, connect_failures, subscribe_refused, connection_lost, callback_errors."""
        return self._client.stats

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and return once every subscription is acknowledged."""
        self._client.start(timeout_s)

    def stop(self) -> None:
        self._client.stop()

    def _on_message(self, topic: str, payload: bytes) -> None:
        runs = self.engine.publish(
            topic, payload, clientid=self.clientid_of(topic), timestamp_ms=self.clock.wall_ms()
        )
        if self.on_run is not None:
            self.on_run(topic, runs)

    def _republish(self, call: ActionCall) -> None:
        topic = call.params["topic"]
        if topic.startswith("$$"):
            topic = topic[1:]  # the guide: `$$` republishes to a reserved `$` topic
        try:
            self._client.publish(topic, call.payload, qos=int(call.params.get("qos", 0)))
        except (OSError, ValueError) as exc:
            raise ActionFailed(f"the publish did not go out: {exc}", topic) from None
