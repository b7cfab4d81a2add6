"""Least-privilege IPC access control, checked against the topic scheme of topics.py.

The recipes name their access rights; this module says which rights a floorline recipe may
ask for, spelled from `components.core.topics` so the two cannot drift:

- IoT Core (aws.greengrass.ipc.mqttproxy): publish only `floorline/+/+/<kind>` for an uplink
  kind, subscribe only to `floorline/+/+/cmd` (`+` is an MQTT wildcard for this service on both
  nuclei). Neither nucleus substitutes `{iot:thingName}` in a resource by default (lite never),
  so the thing level is left open here and fixed by the cloud's IoT policy
  (`${iot:Connection.Thing.ThingName}`, cloud/cdk/iot_policy.py).
- local pub/sub (aws.greengrass.ipc.pubsub): publish only under the component's own live
  prefix `floorline/live/<package>/*` or to the local command topics
  (`topics.LOCAL_COMMANDS`); subscribe only under `floorline/live/` or to those commands.
  `*` is the glob: both nuclei read `+` and `#` here as plain characters.
- The named shadow `topics.SHADOW_NAME` only through its MQTT topics (mqttproxy): publish
  `update` and `get`, subscribe to `get/accepted` and `update/delta`, thing level `+` (the IoT
  policy allows only the device's own). No ShadowManager: nucleus lite has no shadow IPC.
Anything else (another service, a `*` operation, someone else's topic) is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from cloud.greengrass.project import ComponentSource
from components.core import topics

SITE_WILDCARD: Final = "+"
THING_WILDCARD: Final = "+"  # the IoT policy fixes it to the device's own thing
GLOB: Final = "*"
MQTTPROXY: Final = "aws.greengrass.ipc.mqttproxy"
PUBSUB: Final = "aws.greengrass.ipc.pubsub"

PUBLISH_IOT: Final = "aws.greengrass#PublishToIoTCore"
SUBSCRIBE_IOT: Final = "aws.greengrass#SubscribeToIoTCore"
PUBLISH_LOCAL: Final = "aws.greengrass#PublishToTopic"
SUBSCRIBE_LOCAL: Final = "aws.greengrass#SubscribeToTopic"


def mqtt_resource(kind: str) -> str:
    """IoT Core topic of this device for one kind, at any site."""
    return f"{topics.ROOT}/{SITE_WILDCARD}/{THING_WILDCARD}/{kind}"


def shadow_resource(operation: str) -> str:
    return f"$aws/things/{THING_WILDCARD}/shadow/name/{topics.SHADOW_NAME}/{operation}"


def live_resource(package: str) -> str:
    """Local pub/sub resource for one component's live values (a glob, not an MQTT filter)."""
    return topics.live_filter(package).removesuffix("#") + GLOB


def allowed(service: str, operation: str, package: str | None) -> frozenset[str] | None:
    """Resources a floorline component may be granted for one operation; None: any live topic."""
    if service == MQTTPROXY and operation == PUBLISH_IOT:
        return frozenset(
            [mqtt_resource(kind) for kind in topics.UPLINK_KINDS]
            + [shadow_resource(op) for op in topics.SHADOW_DEVICE_PUBLISHES]
        )
    if service == MQTTPROXY and operation == SUBSCRIBE_IOT:
        return frozenset(
            [mqtt_resource(topics.COMMAND)]
            + [shadow_resource(op) for op in topics.SHADOW_DEVICE_RECEIVES]
        )
    if service == PUBSUB and operation == PUBLISH_LOCAL and package:
        return frozenset({live_resource(package), *topics.LOCAL_COMMANDS})
    if service == PUBSUB and operation == SUBSCRIBE_LOCAL:
        return None
    return frozenset()


def grants(access_control: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(service, operation, resource) for every right a recipe's accessControl grants."""
    for service, policies in (access_control or {}).items():
        for policy in (policies or {}).values():
            for operation in policy.get("operations") or []:
                for resource in policy.get("resources") or []:
                    yield service, str(operation), str(resource)


def problems(source: ComponentSource, access_control: Mapping[str, Any]) -> list[str]:
    found = []
    live_root = topics.live_filter().removesuffix("#")
    for service, policies in (access_control or {}).items():
        if service not in (MQTTPROXY, PUBSUB):
            found.append(f"access to {service} is not part of floorline's design")
            continue
        for policy_id, policy in (policies or {}).items():
            if not str(policy_id).startswith(f"{source.name}:"):
                found.append(f"policy id {policy_id!r} must start with {source.name}:")
            if not policy.get("policyDescription"):
                found.append(f"policy {policy_id} has no policyDescription")
            if not policy.get("operations") or not policy.get("resources"):
                found.append(f"policy {policy_id} needs operations and resources")
    for service, operation, resource in grants(access_control):
        if service not in (MQTTPROXY, PUBSUB):
            continue
        permitted = allowed(service, operation, source.package)
        if permitted is None:
            if not resource.startswith(live_root) and resource not in topics.LOCAL_COMMANDS:
                found.append(f"{operation} on {resource!r}: only {live_root}... topics")
        elif not permitted:
            found.append(f"{service} {operation} is not allowed to floorline components")
        elif resource not in permitted:
            found.append(f"{operation} on {resource!r} is outside {sorted(permitted)}")
    return found
