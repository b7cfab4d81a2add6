"""Recipe accessControl matched the way each Greengrass nucleus matches it.

Classic: aws-greengrass-nucleus `authorization/WildcardTrie.java` (STANDARD for local pub/sub and
ShadowManager, MQTT_STYLE for mqttproxy), `AuthorizationPolicyParser.java`. Lite 2.6.0:
`modules/ggipcd/src/ipc_authz.c` (`ggl_ipc_default_policy_matcher`) and
`services/mqttproxy/mqttproxy.c` (`match_topic_filter`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_sim.nucleus.access import (
    CLASSIC,
    LITE,
    MQTT_PROXY,
    PUBSUB,
    SHADOW_MANAGER,
    AccessDenied,
    AccessPolicy,
    InvalidResource,
    PolicyError,
    compile_resource,
    resource_matcher,
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
        # ${c} escapes one of * ? $.
        ("${*}x", ["*x"], ["yx"]),
        ("a/${?}", ["a/?"], ["a/b"]),
        ("a/${$}x", ["a/$x"], ["a/x"]),
    ],
)
def test_mqtt_style_resource_patterns(pattern: str, yes: list[str], no: list[str]) -> None:
    for resource in yes:
        assert allowed(pattern, resource), (pattern, resource)
    for resource in no:
        assert not allowed(pattern, resource), (pattern, resource)


@pytest.mark.parametrize("pattern", ["a/${+}", "${iot:thingName}/x", "a?b", "a/${x", "${}"])
def test_classic_refuses_other_escapes_and_bare_question_marks(pattern: str) -> None:
    with pytest.raises(InvalidResource):
        compile_resource(pattern, True)
    policy = AccessPolicy({PUBSUB: {"p": {"operations": ["*"], "resources": [pattern, "ok"]}}})
    assert policy.is_allowed(PUBSUB, "PublishToTopic", "ok")  # the rest of the policy holds
    assert any(pattern in w for w in policy.warnings)


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        # `+` and `#` are literal for local pub/sub on both nuclei; `*` is the glob.
        ("a/#", ["a/#"], ["a", "a/b", "a/b/c"]),
        ("a/+/c", ["a/+/c"], ["a/x/c"]),
        ("a/*", ["a/b", "a/b/c", "a/#", "a/"], ["a", "b/a"]),
        ("a*c*e", ["ace", "abcde", "a/c/e", "acce"], ["ac", "ea"]),
        ("*", ["", "x/y"], []),
    ],
)
@pytest.mark.parametrize("flavour", [CLASSIC, LITE])
def test_local_pubsub_resources_on_both_nuclei(
    flavour: str, pattern: str, yes: list[str], no: list[str]
) -> None:
    match = resource_matcher(pattern, PUBSUB, flavour)
    for resource in yes:
        assert match(resource), (flavour, pattern, resource)
    for resource in no:
        assert not match(resource), (flavour, pattern, resource)


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        # Filter matching as match_topic_filter does it: `a/#` does not cover `a`.
        ("a/#", ["a/b", "a/b/c", "a/"], ["a", "ab"]),
        ("a/+/x", ["a/b/x", "a//x", "a/+/x"], ["a/b/c/x", "a/x"]),
        # ... and `+` is a wildcard wherever it stands (classic would read `a+/b` literally).
        ("a+/b", ["a+/b", "ax/b", "a/b"], ["a/x/b"]),
        # `${` escapes up to the next `}`; `?` is an ordinary character.
        # (mqttproxy also tries the raw text as a filter, so the text itself passes too).
        ("t/${iot:thingName}", ["t/iot:thingName", "t/${iot:thingName}"], ["t/dev-1"]),
        ("t/{iot:thingName}", ["t/{iot:thingName}"], ["t/dev-1"]),
        ("a?b", ["a?b"], ["axb"]),
        ("${*}x", ["*x"], ["yx"]),
    ],
)
def test_lite_iot_core_resources(pattern: str, yes: list[str], no: list[str]) -> None:
    match = resource_matcher(pattern, MQTT_PROXY, LITE)
    for resource in yes:
        assert match(resource), (pattern, resource)
    for resource in no:
        assert not match(resource), (pattern, resource)


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


@given(filters, concrete_topics)
def test_lite_filter_matching_is_mqtt_without_the_parent_level(
    topic_filter: str, topic: str
) -> None:
    """Independent oracle: MQTT matching (cloud.mqtt.filters), minus the one case
    where lite differs: `a/#` does not cover `a`."""
    parent = topic_filter.endswith("/#") and topic_matches(topic_filter[:-2], topic)
    expected = topic_matches(topic_filter, topic) and not parent
    assert resource_matcher(topic_filter, MQTT_PROXY, LITE)(topic) == expected


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
            "resources": ["floorline/+/{iot:thingName}/cmd"],
        },
    },
    PUBSUB: {"c:pubsub:1": {"operations": ["*"], "resources": ["live/*", "live"]}},
    SHADOW_MANAGER: {
        "c:shadow:1": {
            "operations": ["aws.greengrass#GetThingShadow"],
            "resources": ["$aws/things/{iot:thingName}/shadow"],
        },
        "c:shadow:2": {"operations": ["aws.greengrass#UpdateThingShadow"], "resources": []},
    },
}


def test_thing_name_is_not_substituted_by_default_nor_ever_by_lite() -> None:
    """classic: KernelConfigResolver interpolates component configuration only with
    `interpolateComponentConfiguration: true`; lite never does."""
    for flavour in (CLASSIC, LITE):
        policy = AccessPolicy(ACL, thing_name="dev-1", flavour=flavour)
        assert not policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", "floorline/s1/dev-1/agg")
        assert policy.is_allowed(MQTT_PROXY, "PublishToIoTCore", "floorline/s1/{iot:thingName}/a")
    with pytest.raises(ValueError, match="never interpolates"):
        AccessPolicy(ACL, thing_name="dev-1", flavour=LITE, interpolate=True)


def test_policy_document_evaluation() -> None:
    policy = AccessPolicy(ACL, thing_name="dev-1", interpolate=True)
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
    policy = AccessPolicy(ACL, thing_name="dev-1", interpolate=True)
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
