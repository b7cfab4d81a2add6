"""A core device's policies grant it its own thing's resources, on every connection the nucleus
opens, and nothing else.

The oracle is an evaluator written from the IoT policy rules (iot_policy_oracle.py: `*` and `?`
globs, Allow only; thing policy variables resolve only when the client id is the thing name),
independent of how the policies are built.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iot_policy_oracle import allowed

from cloud.cdk.iot_policy import (
    GREENGRASS_DATA_PLANE_ACTIONS,
    SHADOW_ACTIONS,
    claim_policy,
    core_device_policy,
    device_policy,
    shadow_policy,
)
from components.core import topics

P, R, A = "aws", "eu-west-1", "123456789012"
ALIAS = f"arn:{P}:iot:{R}:{A}:rolealias/floorline-token-exchange"
CORE = core_device_policy(partition=P, region=R, account=A, role_alias_arn=ALIAS)
# The nucleus's MQTT connections: the first with the thing name, then suffixed ones.
CLIENT_SUFFIXES = ("", "#2", "#3", "#endpoint-switch")
POLICY_MAX_CHARS = 2048  # AWS IoT Core quota: policy document size, whitespace excluded


def policies(thing: str, site: str) -> list[dict]:
    own = device_policy(partition=P, region=R, account=A, thing_name=thing, site=site)
    return [CORE, own, shadow_policy(partition=P, region=R, account=A, thing_name=thing)]


def granted(thing: str, site: str, action: str, resource: str, client_id: str) -> bool:
    return any(allowed(p, action, resource, thing, site, client_id) for p in policies(thing, site))


def arn(kind: str, name: str) -> str:
    return f"arn:{P}:iot:{R}:{A}:{kind}/{name}"


def own_resources(thing: str, site: str) -> list[tuple[str, str]]:
    out = [("iot:Connect", arn("client", thing + suffix)) for suffix in CLIENT_SUFFIXES]
    for kind in topics.UPLINK_KINDS:
        out.append(("iot:Publish", arn("topic", topics.device_topic(site, thing, kind))))
    cmd = topics.command_topic(site, thing)
    out += [("iot:Subscribe", arn("topicfilter", cmd)), ("iot:Receive", arn("topic", cmd))]
    out += [
        ("iot:Publish", arn("topic", f"$aws/things/{thing}/greengrassv2/health/json")),
        ("iot:Publish", arn("topic", f"$aws/things/{thing}/shadow/update")),
        ("iot:Receive", arn("topic", f"$aws/things/{thing}/shadow/update/delta")),
        ("iot:Subscribe", arn("topicfilter", f"$aws/things/{thing}/jobs/notify-next")),
        ("iot:UpdateThingShadow", arn("thing", f"{thing}/floorline")),
        ("iot:AssumeRoleWithCertificate", ALIAS),
        ("greengrass:ResolveComponentCandidates", "*"),
    ]
    return out


def foreign_resources(thing: str, site: str) -> list[tuple[str, str]]:
    """Resources that belong to `thing` at `site`, probed with every IoT action."""
    names = [arn("client", thing), arn("client", thing + "#2"), arn("thing", thing)]
    for kind in (*topics.UPLINK_KINDS, topics.COMMAND):
        t = topics.device_topic(site, thing, kind)
        names += [arn("topic", t), arn("topicfilter", t)]
    for rest in ("shadow/update", "jobs/notify-next", "greengrassv2/health/json"):
        names += [arn("topic", f"$aws/things/{thing}/{rest}")]
        names += [arn("topicfilter", f"$aws/things/{thing}/{rest}")]
    actions = ["iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive", "iot:RetainPublish"]
    actions += ["iot:UpdateThingShadow", "iot:GetThingShadow", "iot:DeleteThingShadow"]
    return [(a, n) for a in actions for n in names]


def test_device_can_use_its_own_resources_on_every_nucleus_connection() -> None:
    for suffix in CLIENT_SUFFIXES:
        for action, resource in own_resources("dev-1", "plant-a"):
            assert granted("dev-1", "plant-a", action, resource, "dev-1" + suffix), (
                suffix, action, resource)  # fmt: skip


def test_no_document_relies_on_policy_variables() -> None:
    """They would not resolve on the nucleus's `<thing>#2` connections nor over HTTPS."""
    for policy in policies("dev-1", "plant-a"):
        assert "${" not in json.dumps(policy)


def test_prefix_sibling_is_not_reachable() -> None:
    """`dev-1` cannot connect as, publish for or hear `dev-10` (a `<thing>*` pattern would)."""
    for action, resource in foreign_resources("dev-10", "plant-a"):
        assert not granted("dev-1", "plant-a", action, resource, "dev-1"), (action, resource)


def test_same_thing_name_at_another_site_is_not_reachable() -> None:
    for action, resource in foreign_resources("dev-1", "plant-b"):
        if action == "iot:Connect" or "$aws/things/" in resource or ":thing/" in resource:
            continue  # client ids, system topics and shadows are per thing, not per site
        assert not granted("dev-1", "plant-a", action, resource, "dev-1"), (action, resource)


def test_shared_core_policy_holds_nothing_thing_specific() -> None:
    for statement in CORE["Statement"]:
        if statement["Resource"] == "*":
            assert sorted(statement["Action"]) == sorted(GREENGRASS_DATA_PLANE_ACTIONS)
        else:
            assert statement["Resource"] == ALIAS


def test_device_policy_has_no_http_shadow_retain_or_wildcard_grants() -> None:
    own = device_policy(partition=P, region=R, account=A, thing_name="dev-1", site="plant-a")
    for statement in own["Statement"]:
        actions = statement["Action"]
        actions = actions if isinstance(actions, list) else [actions]
        assert not any("Shadow" in a or a == "iot:*" or "Retain" in a for a in actions), actions
        assert statement["Resource"] != "*"


def test_device_policy_fits_iot_limit_for_names_up_to_40_characters() -> None:
    for partition, region in (("aws", "eu-west-1"), ("aws-us-gov", "ap-southeast-3")):
        doc = device_policy(partition=partition, region=region, account=A,
                            thing_name="t" * 40, site="s" * 40)  # fmt: skip
        assert len(json.dumps(doc, separators=(",", ":"))) <= POLICY_MAX_CHARS


thing_names = st.from_regex(r"[A-Za-z0-9_:-]{1,20}", fullmatch=True)
site_ids = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)


@pytest.mark.slow
@given(a=thing_names, b=thing_names, site_a=site_ids, site_b=site_ids)
def test_any_two_things_are_isolated(a: str, b: str, site_a: str, site_b: str) -> None:
    if a == b:
        return
    for action, resource in foreign_resources(b, site_b):
        assert not granted(a, site_a, action, resource, a), (action, resource)
    for action, resource in own_resources(a, site_a):
        assert granted(a, site_a, action, resource, a + "#2"), (action, resource)


def test_claim_certificate_can_only_provision() -> None:
    policy = claim_policy(partition=P, region=R, account=A, template_name="floorline-gg")
    prov = "$aws/provisioning-templates/floorline-gg/provision/json"
    assert allowed(policy, "iot:Connect", arn("client", "anything"), "x", "y")
    assert allowed(policy, "iot:Publish", arn("topic", prov), "x", "y")
    assert allowed(policy, "iot:Publish", arn("topic", "$aws/certificates/create/json"), "x", "y")
    assert allowed(policy, "iot:Receive", arn("topic", prov + "/accepted"), "x", "y")
    assert allowed(policy, "iot:Subscribe", arn("topicfilter", prov + "/rejected"), "x", "y")
    other = "$aws/provisioning-templates/other/provision/json"
    for action, resource in [
        ("iot:Publish", arn("topic", other)),
        ("iot:Publish", arn("topic", topics.device_topic("plant-a", "dev-1", topics.RAW))),
        ("iot:Subscribe", arn("topicfilter", topics.command_topic("plant-a", "dev-1"))),
        ("iot:AssumeRoleWithCertificate", ALIAS),
        ("greengrass:ResolveComponentCandidates", "*"),
        ("iot:UpdateThingShadow", arn("thing", "dev-1")),
    ]:
        assert not allowed(policy, action, resource, "x", "y"), (action, resource)


def test_per_device_shadow_policy_covers_its_own_shadows_only() -> None:
    policy = shadow_policy(partition=P, region=R, account=A, thing_name="dev-7")
    for action in SHADOW_ACTIONS:
        assert allowed(policy, action, arn("thing", "dev-7"), "x", "y")
        assert allowed(policy, action, arn("thing", "dev-7/floorline"), "x", "y")  # named shadow
        for other in ("dev-70", "dev-", "dev-8", "dev-7x/floorline"):
            assert not allowed(policy, action, arn("thing", other), "x", "y"), other
    assert not allowed(
        policy, "iot:Publish", arn("topic", "$aws/things/dev-7/shadow/update"), "x", "y"
    )
