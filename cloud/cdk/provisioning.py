"""Fleet provisioning by claim for Greengrass core devices.

- a template that registers a core device: creates the thing with its `site` attribute,
  activates its certificate, attaches the shared core policy, its own device policy and shadow
  policy (iot_policy.py: thing and site named literally, filled in from the template's
  parameters), and puts the thing in its site's group (groups must exist: an unknown site
  fails);
- a pre-provisioning hook (provisioning_hook/handler.py) that refuses existing thing names,
  unknown sites and names that are not topic segments;
- the template's service role and the claim policy, which lets the claim certificate call this
  template and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cloud.cdk import names
from cloud.cdk.iot_policy import (
    POLICY_MAX_CHARS,
    SITE_ATTRIBUTE,
    claim_policy,
    device_policy,
    device_policy_budget,
    shadow_policy,
)
from cloud.cdk.lambda_asset import HANDLER, PROVISIONING_HOOK_HANDLER, code_dir


def site_group_name(fleet: str, site: str) -> str:
    return names.site_group(fleet, site)


# Stand-ins for the template's parameters inside a policy document; neither can occur in a
# policy document, a thing name or a site id.
_MARKS: Final = {"\x00THING\x00": "ThingName", "\x00SITE\x00": "SiteId"}
_THING_MARK, _SITE_MARK = _MARKS


def per_thing_policy_document(document: dict[str, object]) -> dict[str, object]:
    """A policy document as the escaped string a template takes, with every mark replaced by
    its parameter (Fn::Join with Ref, evaluated at provisioning)."""
    joined: list[object] = [json.dumps(document, separators=(",", ":"))]
    for mark, parameter in _MARKS.items():
        escaped = json.dumps(mark)[1:-1]
        split: list[object] = []
        for piece in joined:
            if not isinstance(piece, str):
                split.append(piece)
                continue
            parts = piece.split(escaped)
            split.append(parts[0])
            for part in parts[1:]:
                split += [{"Ref": parameter}, part]
        joined = split
    return {"Fn::Join": ["", joined]}


def provisioning_template_body(
    *, fleet: str, core_policy_name: str, partition: str, region: str, account: str
) -> dict[str, object]:
    """Fleet provisioning template (IoT template language, not CloudFormation)."""
    shadows = shadow_policy(
        partition=partition, region=region, account=account, thing_name=_THING_MARK
    )
    own = device_policy(
        partition=partition, region=region, account=account, thing_name=_THING_MARK,
        site=_SITE_MARK,
    )  # fmt: skip
    return {
        "Parameters": {
            "ThingName": {"Type": "String"},
            "SiteId": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"},
        },
        "Resources": {
            "Thing": {
                "Type": "AWS::IoT::Thing",
                "OverrideSettings": {
                    "AttributePayload": "MERGE",
                    "ThingGroups": "DO_NOTHING",
                    "ThingTypeName": "REPLACE",
                },
                "Properties": {
                    "ThingName": {"Ref": "ThingName"},
                    "AttributePayload": {SITE_ATTRIBUTE: {"Ref": "SiteId"}},
                    # An unknown site names no existing group: provisioning fails, closed.
                    "ThingGroups": [
                        {"Fn::Join": ["", [site_group_name(fleet, ""), {"Ref": "SiteId"}]]}
                    ],
                },
            },
            "Certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                    "Status": "Active",
                },
            },
            "Policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyName": core_policy_name},
            },
            # Named by IoT after a hash of the document, which holds the thing name: one each.
            "DevicePolicy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyDocument": per_thing_policy_document(own)},
            },
            "ShadowPolicy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyDocument": per_thing_policy_document(shadows)},
            },
        },
    }


class Provisioning(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleet: str,
        sites: Sequence[str],
        core_policy: iot.CfnPolicy,
        site_groups: Sequence[iot.CfnThingGroup],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.template_name = names.provisioning_template(fleet)
        self.provisioning_role = iam.Role(
            self,
            "ProvisioningRole",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description="Fleet provisioning: registers things and certificates",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSIoTThingsRegistration"
                )
            ],
        )
        self.provisioning_hook = self._provisioning_hook(sites)
        self.provisioning_template = iot.CfnProvisioningTemplate(
            self,
            "ProvisioningTemplate",
            template_name=self.template_name,
            description="Registers a floorline Greengrass core device into its site group",
            enabled=True,
            provisioning_role_arn=self.provisioning_role.role_arn,
            template_body=stack.to_json_string(
                provisioning_template_body(
                    fleet=fleet,
                    core_policy_name=core_policy.ref,
                    partition=stack.partition,
                    region=stack.region,
                    account=stack.account,
                )
            ),
            pre_provisioning_hook=iot.CfnProvisioningTemplate.ProvisioningHookProperty(
                target_arn=self.provisioning_hook.function_arn, payload_version="2020-04-01"
            ),
        )
        self.provisioning_template.node.add_dependency(self.provisioning_hook)
        for group in site_groups:
            self.provisioning_template.node.add_dependency(group)
        self.claim_policy = iot.CfnPolicy(
            self,
            "ClaimPolicy",
            policy_document=claim_policy(
                partition=stack.partition,
                region=stack.region,
                account=stack.account,
                template_name=self.template_name,
            ),
        )

    def _provisioning_hook(self, sites: Sequence[str]) -> lambda_.Function:
        """The Lambda that vets every RegisterThing request (provisioning_hook/handler.py)."""
        stack = cdk.Stack.of(self)
        log_group = logs.LogGroup(
            self,
            "ProvisioningHookLogs",
            retention=logs.RetentionDays.ONE_YEAR,  # who registered what, kept for audits
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            "ProvisioningHookRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Provisioning hook: looks up thing names, writes its own logs",
        )
        log_group.grant_write(role)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LookUpThings",
                actions=["iot:DescribeThing"],
                resources=[f"arn:{stack.partition}:iot:{stack.region}:{stack.account}:thing/*"],
            )
        )
        self.provisioning_hook_role = role
        fn = lambda_.Function(
            self,
            "ProvisioningHook",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir(PROVISIONING_HOOK_HANDLER))),
            memory_size=256,
            timeout=cdk.Duration.seconds(5),  # IoT waits at most 5 s for the hook
            role=role,
            log_group=log_group,
            environment={
                "SITES": ",".join(sites),
                "POLICY_BUDGET": ",".join(map(str, (*device_policy_budget(), POLICY_MAX_CHARS))),
            },
            description="Allows a claim to register a new thing in a known site only",
        )
        template_arn = (
            f"arn:{stack.partition}:iot:{stack.region}:{stack.account}"
            f":provisioningtemplate/{self.template_name}"
        )
        fn.add_permission(
            "InvokedByIoTProvisioning",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_account=stack.account,
            source_arn=template_arn,
        )
        return fn
