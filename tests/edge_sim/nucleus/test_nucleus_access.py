"""Recipe accessControl matched the way the Greengrass nucleus matches it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_sim.nucleus.access import (
    MQTT_PROXY,
    PUBSUB,
    SHADOW_MANAGER,
    AccessDenied,
    AccessPolicy,
    PolicyError,
    compile_resource,
    shadow_resource,
)
from edge_sim.nucleus.pubsub import topic_matches


def allowed(pattern: str, resource: str, mqtt: bool = True) -> bool:
    return compile_resource(pattern, mqtt).fullmatch(resource) is not None


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("a/b", ["a/b"], ["a/b/c", "a", "a/bb", "A/b"]),
        ("a/+/c", ["a/x/c", "a/+/c", "a//c"], ["a/x/y/c", "a/c", "a/x/c/d"]),
        ("a/#", ["a", "a/b", "a/b/c", "a/#", "a/+"], ["ab", "b/a"]),
        ("#", ["a", "a/b/c", "$aws/things/x"], []),
        ("+", ["abc", "+", ""], ["a/b"]),
        ("+/b", ["a/b", "+/b"], ["a/c", "a/x/b"]),
        ("a/*", ["a/b/c", "a/", "a/#"], ["a", "b/a"]),
        ("*", ["anything/at/all", "$aws/rules/x"], []),
        ("a*c/d", ["ac/d", "abbc/d", "a/b/c/d"], ["ac/e"]),
        # Wildcards MQTT does not allow there are plain characters.
        ("a+/b", ["a+/b"], ["ax/b"]),
        ("a/b#", ["a/b#"], ["a/bc", "a/b"]),
        ("a/#/c", ["a/#/c"], ["a/x/c"]),
        # ${c} escapes one character.
        ("${*}x", ["*x"], ["yx"]),
        ("a/${+}", ["a/+"], ["a/b"]),
    ],
)
def test_mqtt_style_resource_patterns(pattern: str, yes: list[str], no: list[str]) -> None:
    for resource in yes:
        assert allowed(pattern, resource), (pattern, resource)
    for resource in no:
        assert not allowed(pattern, resource), (pattern, resource)


def test_standard_style_treats_mqtt_wildcards_literally() -> None:
    pattern = "$aws/things/dev1/shadow/name/+"
    assert not allowed(pattern, "$aws/things/dev1/shadow/name/leds", mqtt=False)
    assert allowed(pattern, "$aws/things/dev1/shadow/name/+", mqtt=False)
    assert allowed("$aws/things/dev1/shadow/name/*", "$aws/things/dev1/shadow/name/leds", False)
    assert not allowed("#", "anything", mqtt=False)


levels = st.text(alphabet="abc01-_", min_size=0, max_size=3)
concrete_topics = st.lists(levels, min_size=1, max_size=5).map("/".join)
filters = st.lists(st.one_of(levels, st.just("+")), min_size=1, max_size=5).flatmap(
    lambda parts: st.sampled_from(["/".join(parts), "/".join(parts) + "/#"])
)


@given(filters, concrete_topics)
def test_policy_wildcards_agree_with_mqtt_matching(topic_filter: str, topic: str) -> None:
    """Two implementations (regex over characters, level-by-level) must agree."""
    assert allowed(topic_filter, topic) == topic_matches(topic_filter, topic)


@given(concrete_topics)
def test_a_literal_resource_allows_exactly_itself(topic: str) -> None:
    assert allowed(topic, topic)
    assert not allowed(topic, topic + "x")


ACL = {
    MQTT_PROXY: {
        "c:mqttproxy:1": {
            "policyDescription": "uplink",
            "operations": ["aws.greengrass#PublishToIoTCore"],
            "resources": ["floorline/+/{iot:thingName}/#", "$aws/rules/floorline_*"],
        },
        "c:mqttproxy:2": {
            "operations": ["aws.greengrass#SubscribeToIoTCore", "aws.greengrass#PublishToTopic"],
            "resources": ["floorline/+/${iot:thingName}/cmd"],
        },
    },
    PUBSUB: {"c:pubsub:1": {"operations": ["*"], "resources": ["live/#"]}},
    SHADOW_MANAGER: {
        "c:shadow:1": {
            "operations": ["aws.greengrass#GetThingShadow"],
            "resources": ["$aws/things/{iot:thingName}/shadow"],
        },
        "c:shadow:2": {"operations": ["aws.greengrass#UpdateThingShadow"], "resources": []},
    },
}


def test_policy_document_evaluation() -> None:
    policy = AccessPolicy(ACL, thing_name="dev-1")
    assert policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", "floorline/s1/dev-1/agg")
    assert policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", "floorline/s1/dev-1")
    assert policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", "$aws/rules/floorline_raw/x")
    assert not policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", "floorline/s1/dev-2/agg")
    assert not policy.is_allowed(MQTT_PROXY, "SubscribeToIoTCore", "floorline/s1/dev-1/agg")
    assert policy.is_allowed(MQTT_PROXY, "SubscribeToIoTCore", "floorline/s1/dev-1/cmd")
    # `*` operations cover every operation of that service only.
    assert policy.is_allowed(PUBSUB, "SubscribeToTopic", "live/a/b")
    assert policy.is_allowed(PUBSUB, "PublishToTopic", "live")
    assert not policy.is_allowed(PUBSUB, "PublishToTopic", "floorline/s1/dev-1/cmd")
    assert policy.is_allowed(SHADOW_MANAGER, "GetThingShadow", shadow_resource("dev-1", None))
    assert not policy.is_allowed(SHADOW_MANAGER, "GetThingShadow", shadow_resource("dev-1", "leds"))
    # A policy without resources grants nothing; an operation under the wrong service is
    # ignored; both are reported.
    assert not policy.is_allowed(
        SHADOW_MANAGER, "UpdateThingShadow", shadow_resource("dev-1", None)
    )
    assert any("PublishToTopic is not an operation of" in w for w in policy.warnings)
    assert any("grants nothing" in w for w in policy.warnings)


def test_denial_names_principal_operation_and_resource() -> None:
    policy = AccessPolicy(ACL, thing_name="dev-1")
    with pytest.raises(AccessDenied) as info:
        policy.check("com.x.Up", MQTT_PROXY, "PublishToIoTCore", "other/topic")
    assert str(info.value) == (
        "Principal com.x.Up is not authorized to perform "
        "aws.greengrass.ipc.mqttproxy:aws.greengrass#PublishToIoTCore on resource other/topic"
    )


def test_no_access_control_denies_everything() -> None:
    policy = AccessPolicy(None)
    assert not policy.is_allowed(PUBSUB, "PublishToTopic", "x")


@pytest.mark.parametrize(
    "bad",
    [{PUBSUB: ["not", "a", "map"]}, {PUBSUB: {"p": "text"}}, {PUBSUB: {"p": {"operations": "*"}}}],
)
def test_malformed_policy_documents_are_rejected(bad: dict) -> None:
    with pytest.raises(PolicyError):
        AccessPolicy(bad)
