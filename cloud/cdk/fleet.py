"""The device side of the stack: identity, credentials, grouping, deployment, onboarding.

- the core-device IoT policy (iot_policy.py) and the token-exchange role + role alias;
- a fleet thing group with one child group per site;
- one Greengrass deployment per site group (suite.py): each component version a stack
  parameter, the site's `siteId` and the stack's stream merged into the components' config;
- fleet provisioning: a template that registers a core device, attaches the core policy, sets
  its `site` attribute and puts it in its site's group; a claim policy that can do nothing but
  call that template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_greengrassv2 as greengrass
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cloud.cdk.iot_policy import SITE_ATTRIBUTE, claim_policy, core_device_policy, shadow_policy
from cloud.cdk.lambda_asset import HANDLER, PROVISIONING_HOOK_HANDLER, code_dir
from cloud.cdk.suite import (
    NUCLEUS,
    SHADOW_MANAGER,
    device_components,
    shadow_manager_merge,
    site_merge,
)
from components.core import topics

DEFAULT_COMPONENT_VERSION: Final = "1.0.0"
DEFAULT_NUCLEUS_VERSION: Final = "2.14.0"
DEFAULT_SHADOW_MANAGER_VERSION: Final = "2.3.9"
SEMVER_PATTERN: Final = r"^\d+\.\d+\.\d+$"
TES_CREDENTIAL_S: Final = 3600


def site_group_name(fleet: str, site: str) -> str:
    return f"{fleet}-site-{site}"


def validate_site(site: str) -> str:
    """A site id must be a valid topic segment: it is one, in floorline/<site>/<thing>/<kind>."""
    topics.device_topic(site, "probe", topics.ALERT)  # raises TopicError for a bad segment
    return site


_THING_MARK: Final = "\x00THING\x00"  # cannot occur in a policy document or a thing name


def per_thing_policy_document(document: dict[str, object]) -> dict[str, object]:
    """A policy document as the escaped string a template takes, with every occurrence of
    _THING_MARK replaced by the ThingName parameter (Fn::Join, evaluated at provisioning)."""
    text = json.dumps(document, separators=(",", ":"))
    parts = text.split(json.dumps(_THING_MARK)[1:-1])
    joined: list[object] = [parts[0]]
    for part in parts[1:]:
        joined += [{"Ref": "ThingName"}, part]
    return {"Fn::Join": ["", joined]}


def provisioning_template_body(
    *, fleet: str, core_policy_name: str, partition: str, region: str, account: str
) -> dict[str, object]:
    """Fleet provisioning template (IoT template language, not CloudFormation)."""
    shadows = shadow_policy(
        partition=partition, region=region, account=account, thing_name=_THING_MARK
    )
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
            "ShadowPolicy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyDocument": per_thing_policy_document(shadows)},
            },
        },
    }


class Fleet(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleet: str,
        sites: Sequence[str],
        stream: kinesis.IStream,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.fleet_name = fleet
        for site in sites:
            validate_site(site)

        artifacts_bucket = cdk.CfnParameter(
            stack,
            "ArtifactsBucket",
            description="S3 bucket holding the published component artifacts (GDK publish)",
            min_length=3,
        )
        # Token exchange: what components may do in AWS with the device's certificate.
        self.tes_role = iam.Role(
            self,
            "TokenExchangeRole",
            assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"),
            description="Greengrass core devices: artifacts download, Kinesis export",
        )
        self.tes_role.add_to_policy(
            iam.PolicyStatement(
                sid="ComponentArtifacts",
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{artifacts_bucket.value_as_string}/*"],
            )
        )
        self.tes_role.add_to_policy(
            iam.PolicyStatement(
                sid="ArtifactsBucketLocation",
                actions=["s3:GetBucketLocation"],
                resources=[f"arn:{stack.partition}:s3:::{artifacts_bucket.value_as_string}"],
            )
        )
        # Stream Manager's Kinesis export; the stream is KMS-encrypted, producers need data keys.
        self.tes_role.add_to_policy(
            iam.PolicyStatement(
                sid="KinesisExport",
                actions=["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStream"],
                resources=[stream.stream_arn],
            )
        )
        self.tes_role.add_to_policy(
            iam.PolicyStatement(
                sid="StreamDataKeys", actions=["kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )
        self.role_alias = iot.CfnRoleAlias(
            self,
            "TokenExchangeRoleAlias",
            role_alias=f"{fleet}-token-exchange",
            role_arn=self.tes_role.role_arn,
            credential_duration_seconds=TES_CREDENTIAL_S,
        )

        self.core_policy = iot.CfnPolicy(
            self,
            "CorePolicy",
            policy_document=core_device_policy(
                partition=stack.partition,
                region=stack.region,
                account=stack.account,
                role_alias_arn=self.role_alias.attr_role_alias_arn,
            ),
        )

        self.fleet_group = iot.CfnThingGroup(
            self,
            "FleetGroup",
            thing_group_name=f"{fleet}-fleet",
            thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                thing_group_description="Every floorline core device (parent of the site groups)"
            ),
        )
        self.site_groups = {}
        for site in sites:
            group = iot.CfnThingGroup(
                self,
                f"Site{re.sub(r'[^A-Za-z0-9]', '', site)}Group",
                thing_group_name=site_group_name(fleet, site),
                parent_group_name=self.fleet_group.ref,
                thing_group_properties=iot.CfnThingGroup.ThingGroupPropertiesProperty(
                    attribute_payload=iot.CfnThingGroup.AttributePayloadProperty(
                        attributes={SITE_ATTRIBUTE: site}
                    ),
                ),
            )
            self.site_groups[site] = group

        self.deployments = self._site_deployments(sites, stream)

        # Fleet provisioning by claim.
        self.template_name = f"{fleet}-greengrass-core"
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
                    core_policy_name=self.core_policy.ref,
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
        for group in self.site_groups.values():
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
            environment={"SITES": ",".join(sites)},
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

    def _version_parameter(self, parameter_id: str, default: str, what: str) -> cdk.CfnParameter:
        return cdk.CfnParameter(
            cdk.Stack.of(self),
            parameter_id,
            default=default,
            allowed_pattern=SEMVER_PATTERN,
            description=f"{what} version deployed to every site",
        )

    def _site_deployments(
        self, sites: Sequence[str], stream: kinesis.IStream
    ) -> dict[str, greengrass.CfnDeployment]:
        """One deployment per site group: same versions, the site's own configuration."""
        stack = cdk.Stack.of(self)
        spec = greengrass.CfnDeployment.ComponentDeploymentSpecificationProperty
        update = greengrass.CfnDeployment.ComponentConfigurationUpdateProperty
        components = device_components()
        versions = {
            c.name: self._version_parameter(c.parameter_id, DEFAULT_COMPONENT_VERSION, c.name)
            for c in components
        }
        nucleus = self._version_parameter("NucleusVersion", DEFAULT_NUCLEUS_VERSION, NUCLEUS)
        shadows = self._version_parameter(
            "ShadowManagerVersion", DEFAULT_SHADOW_MANAGER_VERSION, SHADOW_MANAGER
        )
        self.version_parameters = {**versions, NUCLEUS: nucleus, SHADOW_MANAGER: shadows}
        deployments = {}
        for site in sites:
            specs = {
                NUCLEUS: spec(component_version=nucleus.value_as_string),
                SHADOW_MANAGER: spec(
                    component_version=shadows.value_as_string,
                    configuration_update=update(merge=stack.to_json_string(shadow_manager_merge())),
                ),
            }
            for c in components:
                merge = site_merge(c, site=site, stream_name=stream.stream_name)
                specs[c.name] = spec(
                    component_version=versions[c.name].value_as_string,
                    configuration_update=update(merge=stack.to_json_string(merge))
                    if merge
                    else None,
                )
            group = self.site_groups[site]
            deployment = greengrass.CfnDeployment(
                self,
                f"Site{re.sub(r'[^A-Za-z0-9]', '', site)}Deployment",
                target_arn=group.attr_arn,
                deployment_name=f"{self.fleet_name}-{site}",
                components=specs,
                deployment_policies=greengrass.CfnDeployment.DeploymentPoliciesProperty(
                    failure_handling_policy="ROLLBACK",
                    component_update_policy=greengrass.CfnDeployment.DeploymentComponentUpdatePolicyProperty(
                        action="NOTIFY_COMPONENTS", timeout_in_seconds=120
                    ),
                    configuration_validation_policy=greengrass.CfnDeployment.DeploymentConfigurationValidationPolicyProperty(
                        timeout_in_seconds=30
                    ),
                ),
                iot_job_configuration=greengrass.CfnDeployment.DeploymentIoTJobConfigurationProperty(
                    job_executions_rollout_config=greengrass.CfnDeployment.IoTJobExecutionsRolloutConfigProperty(
                        maximum_per_minute=100
                    ),
                    abort_config=greengrass.CfnDeployment.IoTJobAbortConfigProperty(
                        criteria_list=[
                            greengrass.CfnDeployment.IoTJobAbortCriteriaProperty(
                                action="CANCEL",
                                failure_type="ALL",
                                min_number_of_executed_things=10,
                                threshold_percentage=10,
                            )
                        ]
                    ),
                ),
            )
            # A stack delete must not tear the suite off the devices.
            deployment.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
            deployments[site] = deployment
        return deployments
