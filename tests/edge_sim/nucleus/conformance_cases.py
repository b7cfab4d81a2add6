"""The nucleus conformance cases: one component, one access policy, the same IPC calls made with
the real awsiotsdk client against every target (edge_sim classic, edge_sim lite, the real
nucleus lite), and the answer each nucleus gives.

Every case opens its own connection (a case that makes the server close it cannot spoil the
next) and its outcome is a short string: "OK", the IPC error's class name, "ConnectionClosed",
"delivered" / "not delivered", or a JSON value. Where classic and lite differ, the source is
cited: classic = aws-greengrass-nucleus (src/main/java/com/aws/greengrass/...), lite =
aws-greengrass-lite 2.6.0 (modules/...).

Only the standard library and awsiotsdk are imported: the probe runs this file under nucleus
lite's recipe-runner too.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMPONENT = "com.floorline.ConformanceProbe"
THING = "ConformanceThing"
CONFIG = {"greeting": "hello"}
ACCESS_CONTROL: dict[str, Any] = {
    "aws.greengrass.ipc.pubsub": {
        f"{COMPONENT}:pubsub:1": {
            "policyDescription": "local pub/sub probes",
            "operations": ["aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"],
            "resources": [
                "probe/exact",
                "probe/star/*",
                "probe/hash/#",
                "probe/plus/+/x",
                "probe/thing/{iot:thingName}",
                "probe/q?",
            ],
        }
    },
    "aws.greengrass.ipc.mqttproxy": {
        f"{COMPONENT}:mqttproxy:1": {
            "policyDescription": "IoT Core probes",
            "operations": ["aws.greengrass#PublishToIoTCore", "aws.greengrass#SubscribeToIoTCore"],
            "resources": [
                "iot/exact",
                "iot/hash/#",
                "iot/plus/+/x",
                "iot/thing/{iot:thingName}",
                "iot/deep/*",
            ],
        }
    },
}

Call = Callable[[Any], Any]  # takes a connected GreengrassCoreIPCClientV2


@dataclass(frozen=True)
class Case:
    name: str
    call: Call
    classic: str
    lite: str
    why: str = ""  # the source of a difference

    def expected(self, flavour: str) -> str:
        return self.classic if flavour == "classic" else self.lite


def both(name: str, call: Call, answer: str) -> Case:
    """A case both nuclei answer alike."""
    return Case(name, call, answer, answer)


def _json(topic: str) -> Any:
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    return PublishMessage(json_message=JsonMessage(message={"t": topic}))


def publish(topic: str) -> Call:
    return lambda c: c.publish_to_topic(topic=topic, publish_message=_json(topic))


def publish_binary(topic: str, size: int) -> Call:
    from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage

    message = PublishMessage(binary_message=BinaryMessage(message=b"x" * size))
    return lambda c: c.publish_to_topic(topic=topic, publish_message=message)


def subscribe(topic: str) -> Call:
    return lambda c: c.subscribe_to_topic(topic=topic, on_stream_event=lambda _e: None)


def hears_itself(subscription: str, topic: str) -> Call:
    """Subscribe without receiveMode, publish once, report whether the message came back."""

    def call(c: Any) -> str:
        heard = threading.Event()
        c.subscribe_to_topic(topic=subscription, on_stream_event=lambda _e: heard.set())
        c.publish_to_topic(topic=topic, publish_message=_json(topic))
        return "delivered" if heard.wait(2.0) else "not delivered"

    return call


def iot_publish(topic: str, qos: str | None = "1", payload: bytes | None = b"{}") -> Call:
    return lambda c: c.publish_to_iot_core(topic_name=topic, qos=qos, payload=payload)


def iot_subscribe(topic: str) -> Call:
    return lambda c: c.subscribe_to_iot_core(
        topic_name=topic, qos="1", on_stream_event=lambda _e: None
    )


def get_configuration(*key_path: str) -> Call:
    return lambda c: json.dumps(c.get_configuration(key_path=list(key_path)).value)


def update_access_control(c: Any) -> None:
    c.update_configuration(
        key_path=["accessControl"],
        value_to_merge={"x": "y"},
        timestamp=datetime.datetime.now(datetime.UTC),
    )


def update_state(c: Any) -> None:
    from awsiot.greengrasscoreipc.model import ReportedLifecycleState

    c.update_state(state=ReportedLifecycleState.RUNNING)


SANS_ESCAPES = (
    "classic AuthorizationPolicyParser: an unescaped '?' invalidates the resource; "
    "lite ipc_authz.c: '?' is an ordinary character"
)
WILDCARD_PUBLISH = (
    "classic PubSubIPCEventStreamAgent refuses +, #, * in a published topic "
    "(after authorization); lite ggpubsubd publishes the string as given"
)
LITE_ERRORS = "lite services/pubsub, services/mqttproxy: a malformed request is ServiceError"

CASES: tuple[Case, ...] = (
    # -- local pub/sub: `*` is the glob, `+` and `#` are plain characters on both nuclei
    both("PublishToTopic probe/exact", publish("probe/exact"), "OK"),
    both("PublishToTopic forbidden/topic", publish("forbidden/topic"), "UnauthorizedError"),
    both("PublishToTopic probe/star/a/b", publish("probe/star/a/b"), "OK"),
    both("PublishToTopic probe/hash/a", publish("probe/hash/a"), "UnauthorizedError"),
    both("PublishToTopic probe/plus/a/x", publish("probe/plus/a/x"), "UnauthorizedError"),
    Case(
        "PublishToTopic probe/hash/#",
        publish("probe/hash/#"),
        "InvalidArgumentsError",
        "OK",
        WILDCARD_PUBLISH,
    ),
    Case(
        "PublishToTopic probe/star/*",
        publish("probe/star/*"),
        "InvalidArgumentsError",
        "OK",
        WILDCARD_PUBLISH,
    ),
    both(
        f"PublishToTopic probe/thing/{THING}", publish(f"probe/thing/{THING}"), "UnauthorizedError"
    ),
    both(
        "PublishToTopic probe/thing/{iot:thingName}", publish("probe/thing/{iot:thingName}"), "OK"
    ),
    Case("PublishToTopic probe/q?", publish("probe/q?"), "UnauthorizedError", "OK", SANS_ESCAPES),
    both("SubscribeToTopic probe/hash/#", subscribe("probe/hash/#"), "OK"),
    both("SubscribeToTopic probe/hash/+", subscribe("probe/hash/+"), "UnauthorizedError"),
    both("SubscribeToTopic probe/star/#", subscribe("probe/star/#"), "OK"),
    both("SubscribeToTopic probe/#", subscribe("probe/#"), "UnauthorizedError"),
    both(
        "own message, exact subscription", hears_itself("probe/exact", "probe/exact"), "delivered"
    ),
    Case(
        "own message, wildcard subscription without receiveMode",
        hears_itself("probe/star/#", "probe/star/self"),
        "not delivered",
        "delivered",
        "classic PubSubIPCEventStreamAgent: a wildcard subscription defaults to "
        "RECEIVE_MESSAGES_FROM_OTHERS; lite subscribe_to_topic.c reads no receiveMode",
    ),
    # -- IoT Core: the glob and MQTT filter matching
    both("PublishToIoTCore iot/exact", iot_publish("iot/exact"), "OK"),
    both("PublishToIoTCore iot/hash/a/b", iot_publish("iot/hash/a/b"), "OK"),
    Case(
        "PublishToIoTCore iot/hash",
        iot_publish("iot/hash"),
        "OK",
        "UnauthorizedError",
        "classic WildcardTrie.matchesMQTT: `a/#` covers `a` (isTerminalLevel); "
        "lite mqttproxy.c match_topic_filter: it does not",
    ),
    both("PublishToIoTCore iot/plus/a/x", iot_publish("iot/plus/a/x"), "OK"),
    both("PublishToIoTCore iot/plus/a/b/x", iot_publish("iot/plus/a/b/x"), "UnauthorizedError"),
    both(
        f"PublishToIoTCore iot/thing/{THING}",
        iot_publish(f"iot/thing/{THING}"),
        "UnauthorizedError",
    ),
    both("PublishToIoTCore forbidden/topic", iot_publish("forbidden/topic"), "UnauthorizedError"),
    Case(
        "PublishToIoTCore without qos",
        iot_publish("iot/exact", qos=None),
        "InvalidArgumentsError",
        "OK",
        "classic MqttProxyIPCAgent requires qos; lite publish_to_iot_core.c defaults to 0",
    ),
    Case(
        "PublishToIoTCore without payload",
        iot_publish("iot/exact", payload=None),
        "InvalidArgumentsError",
        "OK",
        "classic MqttProxyIPCAgent requires payload; lite takes an empty one",
    ),
    Case(
        "PublishToIoTCore qos 2",
        iot_publish("iot/exact", qos="2"),
        "InvalidArgumentsError",
        "OK",
        "lite publish_to_iot_core.c takes qos 0 to 2 (IoT Core itself has no QoS 2: "
        "edge_sim's lite drops and counts such a message)",
    ),
    Case(
        "PublishToIoTCore qos 3",
        iot_publish("iot/exact", qos="3"),
        "InvalidArgumentsError",
        "ServiceError",
        LITE_ERRORS,
    ),
    both("SubscribeToIoTCore iot/hash/#", iot_subscribe("iot/hash/#"), "OK"),
    both("SubscribeToIoTCore iot/plus/+/x", iot_subscribe("iot/plus/+/x"), "OK"),
    both("SubscribeToIoTCore forbidden/#", iot_subscribe("forbidden/#"), "UnauthorizedError"),
    Case(
        "SubscribeToIoTCore with 8 slashes",
        iot_subscribe("iot/deep/a/b/c/d/e/f/g"),
        "InvalidArgumentsError",
        "OK",
        "classic MqttProxyIPCAgent checks IoT Core's 7-slash limit; lite iotcored does not",
    ),
    # -- configuration, lifecycle, shadows
    both("GetConfiguration greeting", get_configuration("greeting"), '{"greeting": "hello"}'),
    both("GetConfiguration missing", get_configuration("missing"), "ResourceNotFoundError"),
    both("UpdateConfiguration accessControl", update_access_control, "InvalidArgumentsError"),
    Case(
        "UpdateState RUNNING",
        update_state,
        "OK",
        "ServiceError",
        "lite: UpdateState goes to gghealthd, which needs systemd (not run here)",
    ),
    Case(
        "GetThingShadow",
        lambda c: c.get_thing_shadow(thing_name=THING),
        "UnauthorizedError",
        "ServiceError",
        "lite ggipcd has no shadow operations (use the shadow MQTT topics)",
    ),
    # -- size: one IPC message on lite is at most 10,000 bytes (GGL_IPC_MAX_MSG_LEN)
    both("PublishToTopic 7000 bytes binary", publish_binary("probe/exact", 7000), "OK"),
    Case(
        "PublishToTopic 9000 bytes binary",
        publish_binary("probe/exact", 9000),
        "OK",
        "ConnectionClosed",
        "lite ipc_server.c closes a connection whose message exceeds GGL_IPC_MAX_MSG_LEN",
    ),
)


def outcome(case: Case, connect: Callable[[], Any]) -> str:
    """Run one case on a fresh connection; the answer as a short string."""
    try:
        client = connect()
    except Exception as exc:  # noqa: BLE001 - the outcome is the exception's name
        return f"connect failed: {type(exc).__name__}"
    try:
        result = case.call(client)
        return result if isinstance(result, str) else "OK"
    except Exception as exc:  # noqa: BLE001
        name = type(exc).__name__
        if name in ("AwsCrtError", "StreamClosedError") or "closed" in str(exc).lower():
            return "ConnectionClosed"
        return name
    finally:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - a connection the server closed
            pass


def run_all(connect: Callable[[], Any]) -> dict[str, str]:
    return {case.name: outcome(case, connect) for case in CASES}
