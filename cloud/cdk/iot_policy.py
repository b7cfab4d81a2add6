"""AWS IoT policies for floorline core devices, as plain policy documents (pure functions).

One shared policy serves every core device. Thing policy variables bind it to the certificate's
own thing: `${iot:Connection.Thing.ThingName}` and the thing's `site` attribute, which fleet
provisioning sets. An unresolved variable (a certificate not attached to a thing, a thing with
no site attribute) matches nothing, so the policy fails closed.

Choices, each narrower than the usual Greengrass example policy:
- Connect: the thing name itself and `<thing>#<suffix>`. The nucleus opens extra connections
  with suffixed client ids (`#2`, `#endpoint-switch`); thing names cannot contain `#`, so a
  plain `<thing>*` would also let `dev-1` take over the session of `dev-10`, this does not.
- floorline topics: publish only `floorline/<site>/<thing>/<uplink kind>`, subscribe and
  receive only `floorline/<site>/<thing>/cmd` (components/core/topics.py spells the scheme).
- Greengrass system topics (health, jobs, MQTT shadow) under `$aws/things/<thing>/` only.
- The HTTPS shadow actions (`iot:*ThingShadow`, which ShadowManager's cloud sync uses) are not
  in this shared policy: thing policy variables do not resolve over HTTPS, so here they could
  only be granted on every thing. Fleet provisioning gives each device a second, small policy
  naming its own thing literally (`shadow_policy`).
- The Greengrass data-plane actions are HTTPS calls that accept no thing-scoped resource; AWS
  documents them on `*` for core devices, and that is what is granted.
"""

from __future__ import annotations

from typing import Any, Final

from components.core import topics

THING: Final = "${iot:Connection.Thing.ThingName}"
SITE: Final = "${iot:Connection.Thing.Attributes[site]}"
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


def device_topic_pattern(kind: str) -> str:
    """The topic of one kind for the connected thing, in policy-variable form."""
    return f"{topics.ROOT}/{SITE}/{THING}/{kind}"


def core_device_policy(
    *, partition: str, region: str, account: str, role_alias_arn: str
) -> Document:
    """The IoT policy attached to every core device certificate."""

    def arn(resource: str) -> str:
        return _arn(partition, region, account, resource)

    own_system = [arn(f"topic/$aws/things/{THING}/{t}") for t in _SYSTEM_TOPICS]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": [arn(f"client/{THING}"), arn(f"client/{THING}#*")],
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishOwnUplinkTopics",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [arn(f"topic/{device_topic_pattern(k)}") for k in topics.UPLINK_KINDS],
            },
            {
                "Sid": "SubscribeOwnCommands",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [arn(f"topicfilter/{device_topic_pattern(topics.COMMAND)}")]
                + [arn(f"topicfilter/$aws/things/{THING}/{f}") for f in _SYSTEM_FILTERS],
            },
            {
                "Sid": "ReceiveOwnCommands",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [arn(f"topic/{device_topic_pattern(topics.COMMAND)}")],
            },
            {
                "Sid": "GreengrassSystemTopicsOfOwnThing",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": own_system,
            },
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
