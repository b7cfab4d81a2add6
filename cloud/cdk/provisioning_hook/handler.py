"""Fleet provisioning pre-provisioning hook: decides whether a claim may register a device.

The claim certificate sits in every device image, so it must be assumed leaked. Without this
hook anyone holding it could register a thing under an existing device's name, get a
certificate for it, and (through the thing policy variables) publish as that device. The hook
allows a registration only when:
- `ThingName` and `SiteId` are valid segments of the floorline topic scheme;
- `SiteId` is one of the stack's sites (it also names the thing group the template uses);
- no thing of that name exists yet (re-provisioning a known device is an operator action);
- the device policy the template writes for these names fits IoT's policy size limit
  (`POLICY_BUDGET`, computed at synth from cloud/cdk/iot_policy.py); otherwise IoT would
  refuse the policy half-way through the registration.

Runs with only this file, components.core's topics/limits and the Lambda runtime's boto3.
Everything but `handler` and `_thing_exists` is pure.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from components.core import topics

ThingExists = Callable[[str], bool]


def decide(
    event: Mapping[str, Any],
    *,
    sites: Collection[str],
    thing_exists: ThingExists,
    policy_budget: Sequence[int] | None = None,
) -> tuple[bool, str]:
    """(allowed, reason) for one RegisterThing request. `policy_budget`: (characters with
    empty names, per thing-name character, per site character, limit) of the device policy."""
    params = event.get("parameters") or {}
    thing, site = params.get("ThingName"), params.get("SiteId")
    if not isinstance(thing, str) or not isinstance(site, str):
        return False, "ThingName and SiteId are required"
    try:
        topics.device_topic(site, thing, topics.ALERT)  # validates both as topic segments
    except topics.TopicError as exc:
        return False, f"invalid name: {exc}"
    if site not in sites:
        return False, f"unknown site {site!r}"
    if policy_budget is not None:
        base, per_thing, per_site, limit = policy_budget
        size = base + per_thing * len(thing) + per_site * len(site)
        if size > limit:
            return False, (f"names too long: the device policy would be {size} characters, "
                           f"IoT allows {limit}")  # fmt: skip
    if thing_exists(thing):
        return False, f"thing {thing!r} already exists"
    return True, "ok"


def answer(
    event: Mapping[str, Any],
    *,
    sites: Collection[str],
    thing_exists: ThingExists,
    policy_budget: Sequence[int] | None = None,
) -> dict[str, Any]:
    allowed, reason = decide(event, sites=sites, thing_exists=thing_exists,
                             policy_budget=policy_budget)  # fmt: skip
    params = event.get("parameters") or {}
    print(
        f"event=provisioning allowed={allowed} thing={params.get('ThingName')!r} "
        f"site={params.get('SiteId')!r} claim={event.get('claimCertificateId')} reason={reason}"
    )
    return {"allowProvisioning": allowed}


@functools.cache
def _iot() -> Any:  # pragma: no cover - needs AWS
    import boto3  # in the Lambda runtime

    return boto3.client("iot")  # once per execution environment, reused by every invocation


def _thing_exists(name: str) -> bool:  # pragma: no cover - needs AWS
    client = _iot()
    try:
        client.describe_thing(thingName=name)
    except client.exceptions.ResourceNotFoundException:
        return False
    return True


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    sites = frozenset(s for s in os.environ.get("SITES", "").split(",") if s)
    budget = [int(n) for n in os.environ["POLICY_BUDGET"].split(",")]
    return answer(event, sites=sites, thing_exists=_thing_exists, policy_budget=budget)
