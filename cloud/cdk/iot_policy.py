"""AWS IoT policies for floorline core devices, as plain policy documents (pure functions).

Each core device gets two policies when fleet provisioning registers it: the shared core policy
(token exchange and the Greengrass data plane, nothing thing-specific) and its own device
policy, which names its thing and site literally. Thing policy variables are not used: with
non-exclusive thing association `${iot:Connection.Thing.ThingName}` resolves only when the
MQTT client id equals the thing name, and the nucleus opens extra connections as `<thing>#2`,
`<thing>#endpoint-switch`, ..., which a variable-based policy would refuse; over HTTPS (the
data plane, ShadowManager's cloud sync) the variables do not resolve at all. The Greengrass V2
guide's minimal core-device policy ("Minimal AWS IoT policy for AWS IoT Greengrass V2 core
devices") names the thing literally for the same reasons.

Choices, each narrower than that example policy:
- Connect: the thing name itself and `<thing>#<suffix>`; thing names cannot contain `#`, so a
  plain `<thing>*` would also let `dev-1` take over the session of `dev-10`, this does not.
- floorline topics: publish only `floorline/<site>/<thing>/<uplink kind>`, subscribe and
  receive only `floorline/<site>/<thing>/cmd` (components/core/topics.py spells the scheme).
- Greengrass system topics (health, jobs, MQTT shadow) under `$aws/things/<thing>/` only.
- HTTPS shadow actions on the device's own classic and named shadows (`shadow_policy`), a
  policy of its own so the device policy stays within IoT's policy size limit.
- The Greengrass data-plane actions are HTTPS calls that accept no thing-scoped resource; AWS
  documents them on `*` for core devices, and that is what the shared policy grants.
"""

from __future__ import annotations

import json
from typing import Any, Final

from components.core import topics

SITE_ATTRIBUTE: Final = "site"

# Data-plane actions a core device calls (Greengrass V2 developer guide, "Minimal AWS IoT
# policy for AWS IoT Greengrass V2 core devices"), nucleus 2.5.0 and later.
GREENGRASS_DATA_PLANE_ACTIONS: Final = (
    "greengrass:GetComponentVersionArtifact",
    "greengrass:ResolveComponentCandidates",
    "greengrass:GetDeploymentConfiguration",
    "greengrass:ListThingGroupsForCoreDevice",
)

# Greengrass topics a core device publishes to and receives on, relative to $aws/things/<thing>/.
_SYSTEM_TOPICS: Final = ("greengrass/health/json", "greengrassv2/health/json", "jobs/*", "shadow/*")
_SYSTEM_FILTERS: Final = ("jobs/*", "shadow/*")

Document = dict[str, Any]


def _arn(partition: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:iot:{region}:{account}:{resource}"


def core_device_policy(
    *, partition: str, region: str, account: str, role_alias_arn: str
) -> Document:
    """The IoT policy shared by every core device certificate: nothing thing-specific."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TokenExchange",
                "Effect": "Allow",
                "Action": "iot:AssumeRoleWithCertificate",
                "Resource": role_alias_arn,
            },
            {
                "Sid": "GreengrassDataPlane",
                "Effect": "Allow",
                "Action": list(GREENGRASS_DATA_PLANE_ACTIONS),
                "Resource": "*",
            },
        ],
    }


def device_policy(
    *, partition: str, region: str, account: str, thing_name: str, site: str
) -> Document:
    """The policy of one core device: its client ids, its topics, its system topics."""

    def arn(resource: str) -> str:
        return _arn(partition, region, account, resource)

    def own(kind: str) -> str:
        return f"{topics.ROOT}/{site}/{thing_name}/{kind}"

    own_system = [arn(f"topic/$aws/things/{thing_name}/{t}") for t in _SYSTEM_TOPICS]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": [arn(f"client/{thing_name}"), arn(f"client/{thing_name}#*")],
            },
            {
                # Its own topics only (`*` rather than each uplink kind keeps the document
                # within IoT's 2048 characters; the rules read only the kinds they know).
                "Sid": "PublishOwnTopics",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": arn(f"topic/{own('*')}"),
            },
            {
                "Sid": "SubscribeOwnCommands",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [arn(f"topicfilter/{own(topics.COMMAND)}")]
                + [arn(f"topicfilter/$aws/things/{thing_name}/{f}") for f in _SYSTEM_FILTERS],
            },
            {
                "Sid": "ReceiveOwnCommands",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [arn(f"topic/{own(topics.COMMAND)}")],
            },
            {
                "Sid": "GreengrassSystemTopicsOfOwnThing",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": own_system,
            },
        ],
    }


POLICY_MAX_CHARS: Final = 2048  # AWS IoT Core quota: a policy document, whitespace excluded
# The longest partition and region names a stack may run in, so a size bound holds anywhere.
_WIDEST_ARN: Final = {"partition": "aws-us-gov", "region": "xx-xxxxxxxxxxx-9", "account": "0" * 12}


def device_policy_budget() -> tuple[int, int, int]:
    """(characters with empty names, per character of thing name, per character of site) of
    the device policy at its widest: its size is linear in the two name lengths, since names
    are topic segments, which JSON never escapes."""

    def size(thing: str, site: str) -> int:
        doc = device_policy(**_WIDEST_ARN, thing_name=thing, site=site)
        return len(json.dumps(doc, separators=(",", ":")))

    base = size("", "")
    return base, size("t", "") - base, size("", "s") - base


SHADOW_ACTIONS: Final = ("iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow")


def shadow_policy(*, partition: str, region: str, account: str, thing_name: str) -> Document:
    """The per-device policy for the HTTPS shadow actions: its classic and named shadows."""
    thing = _arn(partition, region, account, f"thing/{thing_name}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnShadowsOverHttps",
                "Effect": "Allow",
                "Action": list(SHADOW_ACTIONS),
                "Resource": [thing, f"{thing}/*"],
            }
        ],
    }


def claim_policy(*, partition: str, region: str, account: str, template_name: str) -> Document:
    """The policy on the shared claim certificate: fleet provisioning and nothing else.

    The claim certificate is baked into device images, so it is assumed leaked: it can ask for
    a certificate and register through one template, and the template decides the rest.
    """

    def arn(resource: str) -> str:
        return _arn(partition, region, account, resource)

    provisioning = [
        "$aws/certificates/create/json",
        "$aws/certificates/create/json/*",
        f"$aws/provisioning-templates/{template_name}/provision/json",
        f"$aws/provisioning-templates/{template_name}/provision/json/*",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectForProvisioning",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn("client/*"),
            },
            {
                "Sid": "ProvisioningTopics",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": [arn(f"topic/{t}") for t in provisioning],
            },
            {
                "Sid": "ProvisioningReplies",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [arn(f"topicfilter/{t}") for t in provisioning],
            },
        ],
    }
