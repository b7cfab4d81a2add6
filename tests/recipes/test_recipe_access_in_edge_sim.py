"""The committed recipes through edge_sim's IPC authorizer, as each nucleus reads them (classic
with its default interpolateComponentConfiguration: false, and lite): each component may do
what its job needs and nothing of a neighbour's. The thing level is the IoT policy's business
(cloud/cdk/iot_policy.py): no nucleus substitutes {iot:thingName} in a resource by default."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.greengrass import layout, recipe
from components.core import topics
from edge_sim.nucleus.access import (
    FLAVOURS,
    MQTT_PROXY,
    PUBSUB,
    SHADOW_MANAGER,
    AccessPolicy,
)

THING, SITE = "gw-0042", "plant-a"


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _policy(key: str, flavour: str) -> AccessPolicy:
    parsed = recipe.load(layout.REPO_ROOT / "recipes" / f"{key}.yaml")[1]
    access_control: Any = recipe.default_configuration(parsed).get("accessControl")
    policy = AccessPolicy(access_control, thing_name=THING, flavour=flavour)
    assert policy.warnings == []  # nothing in the recipe that the nucleus would ignore
    return policy


@pytest.mark.parametrize("kind", topics.UPLINK_KINDS)
def test_uplink_publishes_its_topics_at_any_site(kind: str, flavour: str) -> None:
    policy = _policy("Uplink", flavour)
    for site in (SITE, "plant-b"):
        assert policy.is_allowed(
            MQTT_PROXY, "PublishToIoTCore", topics.device_topic(site, THING, kind)
        )
    assert not policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", f"floorline/{SITE}/{kind}")
    assert not policy.is_allowed(
        MQTT_PROXY, "PublishToIoTCore", f"floorline/{SITE}/{THING}/x/{kind}"
    )


def test_uplink_commands_and_shadow(flavour: str) -> None:
    policy = _policy("Uplink", flavour)
    assert policy.is_allowed(MQTT_PROXY, "SubscribeToIoTCore", topics.command_topic(SITE, THING))
    assert not policy.is_allowed(MQTT_PROXY, "SubscribeToIoTCore", "floorline/#")
    assert not policy.is_allowed(
        MQTT_PROXY, "SubscribeToIoTCore", topics.device_topic(SITE, THING, "alert")
    )
    assert not policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", topics.command_topic(SITE, THING))
    # The named shadow through its MQTT topics: update and get out, answers in.
    for operation in topics.SHADOW_DEVICE_PUBLISHES:
        assert policy.is_allowed(
            MQTT_PROXY, "PublishToIoTCore", topics.shadow_topic(THING, operation)
        )
    for operation in topics.SHADOW_DEVICE_RECEIVES:
        assert policy.is_allowed(
            MQTT_PROXY, "SubscribeToIoTCore", topics.shadow_topic(THING, operation)
        )
    assert not policy.is_allowed(
        MQTT_PROXY, "PublishToIoTCore", topics.shadow_topic(THING, "delete")
    )
    assert not policy.is_allowed(
        MQTT_PROXY, "SubscribeToIoTCore", f"$aws/things/{THING}/shadow/name/floorline/#"
    )
    assert not any(p.service == SHADOW_MANAGER for p in policy.policies)


@pytest.mark.parametrize(("key", "neighbour"), [("Sensors", "rfid"), ("Rfid", "sensors")])
def test_live_values_under_the_components_own_prefix(
    key: str, neighbour: str, flavour: str
) -> None:
    policy = _policy(key, flavour)
    package = layout.package_name(key)
    stream = "env/bme280@0x76" if key == "Sensors" else "rfid/rdm6300@ttyS0"
    assert policy.is_allowed(PUBSUB, "PublishToTopic", topics.live_topic(package, stream))
    assert not policy.is_allowed(PUBSUB, "PublishToTopic", topics.live_topic(neighbour, stream))
    assert not policy.is_allowed(PUBSUB, "SubscribeToTopic", topics.live_topic(package, stream))
    assert not policy.is_allowed(
        MQTT_PROXY, "PublishToIoTCore", topics.device_topic(SITE, THING, "raw")
    )


@pytest.mark.parametrize("key", ["Analytics", "HttpIngest", "Console"])
def test_components_without_ipc_rights(key: str, flavour: str) -> None:
    policy = _policy(key, flavour)
    assert policy.policies == []
