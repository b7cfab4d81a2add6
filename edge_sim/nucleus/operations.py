"""The IPC operations the emulated nucleus answers: JSON request in, JSON response out.

Each handler takes a `Call` (who is calling, on which stream) and the decoded request body,
and returns the response body or raises. `Call.open_stream` turns a call into a subscription:
events go out after the response, and the cancel function runs when the stream closes.
Errors map to the IPC error shapes in `error_shape`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from components.core.limits import MQTT_TOPIC_MAX_SLASHES
from edge_sim.nucleus.access import (
    LITE,
    MQTT_PROXY,
    PUBSUB,
    SHADOW_MANAGER,
    AccessDenied,
    shadow_resource,
)
from edge_sim.nucleus.config_store import ConfigRefused, KeyNotFound, StaleUpdate
from edge_sim.nucleus.mqtt_proxy import PublishRefused
from edge_sim.nucleus.pubsub import (
    RECEIVE_ALL,
    RECEIVE_FROM_OTHERS,
    LocalMessage,
    TopicFilterError,
)
from edge_sim.nucleus.shadow import ShadowConflict, ShadowInvalid, ShadowNotFound

if TYPE_CHECKING:
    from edge_sim.nucleus.ipc_server import NucleusServer

log = logging.getLogger("edge_sim.nucleus")

M: Final = "aws.greengrass#"
STREAM_MANAGER: Final = "aws.greengrass.StreamManager"
LIFECYCLE_STATES: Final = frozenset({"RUNNING", "ERRORED"})
# Characters PublishToTopic refuses in a topic (classic: PubSubIPCEventStreamAgent).
LOCAL_WILDCARDS: Final = ("+", "#", "*")
# Nucleus lite answers every malformed request and every refusal with one fixed text
# (modules/ggipcd/src/services/*: GGL_IPC_ERR_SERVICE_ERROR, GGL_IPC_ERR_UNAUTHORIZED_ERROR).
LITE_INVALID_TEXT: Final = "Received invalid parameters."
LITE_UNAUTHORIZED_TEXT: Final = "IPC Operation not authorized."
# Operations nucleus lite 2.6.0's ggipcd answers (its README's IPC table); anything else is
# ServiceError. UpdateState goes to gghealthd, which needs systemd: ServiceError here too.
LITE_OPERATIONS: Final = frozenset(
    {
        "PublishToTopic",
        "SubscribeToTopic",
        "PublishToIoTCore",
        "SubscribeToIoTCore",
        "GetConfiguration",
        "UpdateConfiguration",
        "SubscribeToConfigurationUpdate",
        "ValidateAuthorizationToken",
    }
)
# Lite takes QoS 0 to 2 (services/mqttproxy/publish_to_iot_core.c); IoT Core has no QoS 2.
LITE_QOS: Final = ("0", "1", "2")
# Lite's pub/sub and IoT Core handlers answer a malformed request with ServiceError.
LITE_SERVICE_ERROR_ON_INVALID: Final = frozenset(
    {"PublishToTopic", "SubscribeToTopic", "PublishToIoTCore", "SubscribeToIoTCore"}
)


def answered_as(flavour: str, operation: str, error: IpcError) -> IpcError:
    """The error as the nucleus being played words it (`operation`: the bare name)."""
    if (
        flavour == LITE
        and error.shape == "InvalidArgumentsError"
        and operation in LITE_SERVICE_ERROR_ON_INVALID
    ):
        return IpcError("ServiceError", LITE_INVALID_TEXT)
    return error


def supported(flavour: str, operation: str) -> bool:
    return flavour != LITE or operation in LITE_OPERATIONS


class IpcError(Exception):
    """An error answered to the caller as an IPC error shape."""

    def __init__(self, shape: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.shape = shape
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": str(self), **self.extra}


def invalid(message: str) -> IpcError:
    return IpcError("InvalidArgumentsError", message)


def authorize(call: Call, service: str, operation: str, resource: str) -> None:
    try:
        call.server.access(call.component).check(call.component, service, operation, resource)
    except AccessDenied as exc:
        if call.server.flavour == LITE:
            raise IpcError("UnauthorizedError", LITE_UNAUTHORIZED_TEXT) from exc
        raise


def error_shape(exc: Exception) -> IpcError | None:
    """The IPC error for a domain exception, or None if it is not an expected one."""
    if isinstance(exc, IpcError):
        return exc
    if isinstance(exc, AccessDenied):
        return IpcError("UnauthorizedError", str(exc))
    if isinstance(exc, KeyNotFound | ShadowNotFound):
        return IpcError("ResourceNotFoundError", str(exc))
    if isinstance(exc, StaleUpdate):
        return IpcError("FailedUpdateConditionCheckError", str(exc))
    if isinstance(exc, ShadowConflict):
        return IpcError("ConflictError", str(exc))
    if isinstance(exc, ConfigRefused | ShadowInvalid | TopicFilterError):
        return invalid(str(exc))
    if isinstance(exc, PublishRefused):
        return IpcError("ServiceError", str(exc))
    return None


class Call(Protocol):
    component: str
    server: NucleusServer

    def open_stream(self, event_model: str, cancel: Callable[[], None]) -> None: ...

    def emit(self, body: dict[str, Any]) -> None: ...


def _required_str(request: Mapping[str, Any], key: str) -> str:
    value = _optional_str(request, key)
    if value is None:
        raise invalid(f"{key} is required")
    return value


def _optional_str(request: Mapping[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value


def _blob(request: Mapping[str, Any], key: str) -> bytes:
    value = request.get(key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise invalid(f"{key} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"{key} is not valid base64: {exc}") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key_path(request: Mapping[str, Any]) -> list[str]:
    path = request.get("keyPath") or []
    if not isinstance(path, list) or not all(isinstance(k, str) for k in path):
        raise invalid("keyPath must be a list of strings")
    return path


# -- IoT Core (aws.greengrass.ipc.mqttproxy) --
def publish_to_iot_core(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    topic = _required_str(request, "topicName")
    if call.server.flavour != LITE:
        # Classic (MqttProxyIPCAgent) requires both; lite takes QoS 0 and an empty payload.
        for key in ("qos", "payload"):
            if request.get(key) is None:
                raise invalid(f"{key} is required")
    qos = request.get("qos", "0")
    allowed_qos = LITE_QOS if call.server.flavour == LITE else ("0", "1")
    if str(qos) not in allowed_qos:
        raise invalid(f"qos {qos!r} is not one of {allowed_qos}")
    server = call.server
    authorize(call, MQTT_PROXY, "PublishToIoTCore", topic)
    if str(qos) == "2":
        # Only lite gets here. IoT Core has no QoS 2 (it closes the connection): the message is
        # lost, so it is counted and never delivered, not sent as QoS 1.
        server.counters["mqtt_dropped_qos2"] += 1
        log.warning("event=qos2_dropped component=%s topic=%s", call.component, topic)
        return {}
    try:
        server.mqtt.publish(topic, _blob(request, "payload"), int(qos))
    except PublishRefused as exc:
        raise IpcError("ServiceError", f"Publish to topic {topic} failed: {exc}") from exc
    return {}


def subscribe_to_iot_core(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    topic_filter = _required_str(request, "topicName")
    server = call.server
    if server.flavour != LITE and topic_filter.count("/") > MQTT_TOPIC_MAX_SLASHES:
        # Classic validates the filter against IoT Core's limit before subscribing.
        raise invalid(
            f"topic filter {topic_filter!r} has more than {MQTT_TOPIC_MAX_SLASHES} slashes"
        )
    authorize(call, MQTT_PROXY, "SubscribeToIoTCore", topic_filter)

    def deliver(topic: str, payload: bytes) -> None:
        call.emit({"message": {"topicName": topic, "payload": _b64(payload)}})

    cancel = server.mqtt.subscribe(topic_filter, deliver)
    call.open_stream(M + "IoTCoreMessage", cancel)
    return {}


# -- local pub/sub (aws.greengrass.ipc.pubsub) --
def publish_to_topic(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    topic = _required_str(request, "topic")
    body = request.get("publishMessage")
    if not isinstance(body, Mapping):
        raise invalid("publishMessage is required")
    json_part, binary_part = body.get("jsonMessage"), body.get("binaryMessage")
    if (json_part is None) == (binary_part is None):
        raise invalid("publishMessage needs exactly one of jsonMessage or binaryMessage")
    server = call.server
    authorize(call, PUBSUB, "PublishToTopic", topic)
    # Classic refuses wildcards after authorization (PubSubIPCEventStreamAgent.handlePublish).
    if server.flavour != LITE and (not topic or any(w in topic for w in LOCAL_WILDCARDS)):
        raise invalid(f"topic {topic!r} must be a topic name without wildcards")
    if json_part is not None:
        if not isinstance(json_part, Mapping):
            raise invalid("jsonMessage must be an object")
        message = LocalMessage(topic, call.component, json_message=json_part.get("message"))
    else:
        if not isinstance(binary_part, Mapping):
            raise invalid("binaryMessage must be an object")
        message = LocalMessage(topic, call.component, binary_message=_blob(binary_part, "message"))
    server.pubsub.publish(message)
    return {}


def subscribe_to_topic(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    topic_filter = _required_str(request, "topic")
    server = call.server
    mode = request.get("receiveMode")
    if server.flavour == LITE:
        mode = RECEIVE_ALL  # ggipcd ignores receiveMode: a subscriber hears its own messages
    elif mode is None:
        # Classic: a wildcard subscription without a mode does not hear its own messages.
        wildcard = any(w in topic_filter for w in ("+", "#"))
        mode = RECEIVE_FROM_OTHERS if wildcard else RECEIVE_ALL
    authorize(call, PUBSUB, "SubscribeToTopic", topic_filter)

    def deliver(message: LocalMessage) -> None:
        context = {"topic": message.topic}
        if message.binary_message is not None:
            call.emit(
                {"binaryMessage": {"message": _b64(message.binary_message), "context": context}}
            )
        else:
            call.emit({"jsonMessage": {"message": message.json_message, "context": context}})

    cancel = server.pubsub.subscribe(call.component, topic_filter, deliver, mode)
    call.open_stream(M + "SubscriptionResponseMessage", cancel)
    return {"topicName": topic_filter}


# -- configuration --
def get_configuration(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    component = _optional_str(request, "componentName") or call.component
    value = call.server.config.get(component, _key_path(request))
    return {"componentName": component, "value": value}


def update_configuration(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    timestamp = request.get("timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise invalid("Timestamp is required")
    if request.get("valueToMerge") is None:
        raise invalid("ValueToMerge is required")
    # The client sends epoch seconds (a float); the store keeps epoch milliseconds.
    call.server.config.update_from_ipc(
        call.component, _key_path(request), request["valueToMerge"], int(round(timestamp * 1000))
    )
    return {}


def subscribe_to_configuration_update(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    component = _optional_str(request, "componentName") or call.component

    def changed(name: str, key_path: tuple[str, ...]) -> None:
        call.emit({"configurationUpdateEvent": {"componentName": name, "keyPath": list(key_path)}})

    cancel = call.server.config.subscribe(component, _key_path(request), changed)
    call.open_stream(M + "ConfigurationUpdateEvents", cancel)
    return {}


# -- lifecycle --
def update_state(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    state = _required_str(request, "state")
    if state not in LIFECYCLE_STATES:
        raise invalid(f"state {state!r} is not one of {sorted(LIFECYCLE_STATES)}")
    call.server.set_component_state(call.component, state)
    return {}


# -- shadows (aws.greengrass.ShadowManager) --
def _shadow_target(
    call: Call, request: Mapping[str, Any], operation: str
) -> tuple[str, str | None]:
    thing = _required_str(request, "thingName")
    shadow = _optional_str(request, "shadowName") or None
    authorize(call, SHADOW_MANAGER, operation, shadow_resource(thing, shadow))
    return thing, shadow


def _json_payload(document: dict[str, Any]) -> dict[str, Any]:
    return {"payload": _b64(json.dumps(document).encode())}


def get_thing_shadow(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    thing, shadow = _shadow_target(call, request, "GetThingShadow")
    return _json_payload(call.server.shadows.get(thing, shadow))


def update_thing_shadow(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    thing, shadow = _shadow_target(call, request, "UpdateThingShadow")
    return _json_payload(call.server.shadows.update(thing, shadow, _blob(request, "payload")))


def delete_thing_shadow(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    thing, shadow = _shadow_target(call, request, "DeleteThingShadow")
    return _json_payload(call.server.shadows.delete(thing, shadow))


def list_named_shadows_for_thing(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    thing, _ = _shadow_target(call, request, "ListNamedShadowsForThing")
    now_s = call.server.clock.wall_ms() // 1000
    return {"results": call.server.shadows.names(thing), "timestamp": now_s}


# -- authorization --
def validate_authorization_token(call: Call, request: Mapping[str, Any]) -> dict[str, Any]:
    if call.component != STREAM_MANAGER:
        raise IpcError(
            "UnauthorizedError",
            f"{call.component} is not authorized to perform {M}ValidateAuthorizationToken",
        )
    token = _required_str(request, "token")
    if call.server.component_for_token(token) is None:
        raise IpcError("InvalidTokenError", "Invalid token used")
    return {"isValid": True}


@dataclass(frozen=True)
class Operation:
    name: str  # "aws.greengrass#PublishToIoTCore"
    handler: Callable[[Call, Mapping[str, Any]], dict[str, Any]]
    streaming: bool = False

    @property
    def request_model(self) -> str:
        return self.name + "Request"

    @property
    def response_model(self) -> str:
        return self.name + "Response"


OPERATIONS: Final[Mapping[str, Operation]] = {
    op.name: op
    for op in (
        Operation(M + "PublishToIoTCore", publish_to_iot_core),
        Operation(M + "SubscribeToIoTCore", subscribe_to_iot_core, streaming=True),
        Operation(M + "PublishToTopic", publish_to_topic),
        Operation(M + "SubscribeToTopic", subscribe_to_topic, streaming=True),
        Operation(M + "GetConfiguration", get_configuration),
        Operation(M + "UpdateConfiguration", update_configuration),
        Operation(
            M + "SubscribeToConfigurationUpdate", subscribe_to_configuration_update, streaming=True
        ),
        Operation(M + "UpdateState", update_state),
        Operation(M + "GetThingShadow", get_thing_shadow),
        Operation(M + "UpdateThingShadow", update_thing_shadow),
        Operation(M + "DeleteThingShadow", delete_thing_shadow),
        Operation(M + "ListNamedShadowsForThing", list_named_shadows_for_thing),
        Operation(M + "ValidateAuthorizationToken", validate_authorization_token),
    )
}
