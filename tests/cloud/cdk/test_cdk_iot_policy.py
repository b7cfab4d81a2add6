"""The core-device policy grants a device its own thing's resources and nothing else.

The oracle is an evaluator written from the IoT policy rules (policy variables substituted from
the connecting thing; `*` matches any run of characters, `?` one character; access only if some
Allow statement matches both action and resource), independent of how the policy is built.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from iot_policy_oracle import allowed

from cloud.cdk.iot_policy import (
    GREENGRASS_DATA_PLANE_ACTIONS,
    SHADOW_ACTIONS,
    SITE,
    THING,
    claim_policy,
    core_device_policy,
    shadow_policy,
)
from components.core import topics

P, R, A = "aws", "eu-west-1", "123456789012"
ALIAS = f"arn:{P}:iot:{R}:{A}:rolealias/floorline-token-exchange"
POLICY = core_device_policy(partition=P, region=R, account=A, role_alias_arn=ALIAS)


def arn(kind: str, name: str) -> str:
    return f"arn:{P}:iot:{R}:{A}:{kind}/{name}"


def own_resources(thing: str, site: str) -> list[tuple[str, str]]:
    out = [("iot:Connect", arn("client", thing)), ("iot:Connect", arn("client", thing + "#2"))]
    out += [("iot:Connect", arn("client", thing + "#endpoint-switch"))]
    for kind in topics.UPLINK_KINDS:
        out.append(("iot:Publish", arn("topic", topics.device_topic(site, thing, kind))))
    cmd = topics.command_topic(site, thing)
    out += [("iot:Subscribe", arn("topicfilter", cmd)), ("iot:Receive", arn("topic", cmd))]
    out += [
        ("iot:Publish", arn("topic", f"$aws/things/{thing}/greengrassv2/health/json")),
        ("iot:Publish", arn("topic", f"$aws/things/{thing}/shadow/update")),
        ("iot:Receive", arn("topic", f"$aws/things/{thing}/shadow/update/delta")),
        ("iot:Subscribe", arn("topicfilter", f"$aws/things/{thing}/jobs/notify-next")),
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


def test_device_can_use_its_own_topics_and_client_ids() -> None:
    for action, resource in own_resources("dev-1", "plant-a"):
        assert allowed(POLICY, action, resource, "dev-1", "plant-a"), (action, resource)


def test_prefix_sibling_is_not_reachable() -> None:
    """`dev-1` cannot connect as, publish for or hear `dev-10` (a `<thing>*` pattern would)."""
    for action, resource in foreign_resources("dev-10", "plant-a"):
        assert not allowed(POLICY, action, resource, "dev-1", "plant-a"), (action, resource)


def test_same_thing_name_at_another_site_is_not_reachable() -> None:
    for action, resource in foreign_resources("dev-1", "plant-b"):
        if action == "iot:Connect" or "$aws/things/" in resource:
            continue  # client ids and system topics are per thing, not per site
        assert not allowed(POLICY, action, resource, "dev-1", "plant-a"), (action, resource)


def test_unresolved_variables_grant_nothing_on_topics() -> None:
    """A thing without a site attribute: the literal variable text matches no real topic."""
    for action, resource in own_resources("dev-1", "plant-a"):
        if f"/{topics.ROOT}/" in resource:
            assert not allowed(POLICY, action, resource, "dev-1", SITE), (action, resource)


def test_wildcard_resources_are_only_the_documented_data_plane() -> None:
    for statement in POLICY["Statement"]:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        for res in resources:
            if res == "*":
                assert sorted(statement["Action"]) == sorted(GREENGRASS_DATA_PLANE_ACTIONS)
            elif res != ALIAS:
                assert f"/{THING}" in res or res.endswith(f"/{THING}"), res


def test_no_http_shadow_or_retain_grants() -> None:
    for statement in POLICY["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert not any("Shadow" in a or a == "iot:*" for a in actions), actions


thing_names = st.from_regex(r"[A-Za-z0-9_:-]{1,20}", fullmatch=True)
site_ids = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)


@given(a=thing_names, b=thing_names, site_a=site_ids, site_b=site_ids)
def test_any_two_things_are_isolated(a: str, b: str, site_a: str, site_b: str) -> None:
    if a == b:
        return
    for action, resource in foreign_resources(b, site_b):
        assert not allowed(POLICY, action, resource, a, site_a), (action, resource)
    for action, resource in own_resources(a, site_a):
        assert allowed(POLICY, action, resource, a, site_a), (action, resource)


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
