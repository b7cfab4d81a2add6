"""The device side of the stack: identity, credentials, grouping, deployment, onboarding.

- the core-device IoT policy (iot_policy.py) and the token-exchange role + role alias;
- a fleet thing group with one child group per site;
- one Greengrass deployment per site group (suite.py): each component version a stack
  parameter, the site's `siteId` and the stack's stream merged into the components' config,
  shaped by the site's nucleus profile (classic or lite, cloud/greengrass/profiles.py);
- fleet provisioning by claim (provisioning.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import aws_cdk as cdk
from aws_cdk import aws_greengrassv2 as greengrass
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from cloud.cdk import names
from cloud.cdk.iot_policy import SITE_ATTRIBUTE, core_device_policy
from cloud.cdk.provisioning import Provisioning, site_group_name
from cloud.cdk.suite import (
    NUCLEUS,
    SHADOW_MANAGER,
    device_components,
    shadow_manager_merge,
    site_merge,
    version_parameters,
)
from cloud.greengrass.profiles import PROFILES, STREAM_MANAGER
from components.core import topics

SEMVER_PATTERN: Final = r"^\d+\.\d+\.\d+$"
TES_CREDENTIAL_S: Final = 3600


def validate_site(site: str) -> str:
    """A site id must be a valid topic segment: it is one, in floorline/<site>/<thing>/<kind>."""
    topics.device_topic(site, "probe", topics.ALERT)  # raises TopicError for a bad segment
    return site


class FleetConstruct(Construct):
    """The devices' side in AWS: per site a thing group and its Greengrass deployment, the
    token exchange role, provisioning by claim."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        fleet: str,
        sites: Mapping[str, str],  # site id -> nucleus profile of its devices
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
            role_alias=names.role_alias(fleet),
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
            thing_group_name=names.fleet_group(fleet),
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

        self.provisioning = Provisioning(
            self,
            "Provisioning",
            fleet=fleet,
            sites=list(sites),
            core_policy=self.core_policy,
            site_groups=list(self.site_groups.values()),
        )

    def _version_parameter(self, parameter_id: str, default: str, what: str) -> cdk.CfnParameter:
        return cdk.CfnParameter(
            cdk.Stack.of(self),
            parameter_id,
            default=default,
            allowed_pattern=SEMVER_PATTERN,
            description=f"{what} version deployed to every site",
        )

    def _site_deployments(
        self, sites: Mapping[str, str], stream: kinesis.IStream
    ) -> dict[str, greengrass.CfnDeployment]:
        """One deployment per site group: same versions, the site's own configuration, only
        the components its nucleus can run."""
        stack = cdk.Stack.of(self)
        spec = greengrass.CfnDeployment.ComponentDeploymentSpecificationProperty
        update = greengrass.CfnDeployment.ComponentConfigurationUpdateProperty
        components = device_components()
        parameters = {
            p.component: self._version_parameter(p.parameter_id, p.default, p.component)
            for p in version_parameters()
        }
        versions = {c.name: parameters[c.name] for c in components}
        nucleus, shadows = parameters[NUCLEUS], parameters[SHADOW_MANAGER]
        stream_manager = parameters[STREAM_MANAGER]
        self.version_parameters = {
            **versions,
            NUCLEUS: nucleus,
            SHADOW_MANAGER: shadows,
            STREAM_MANAGER: stream_manager,
        }
        deployments = {}
        for site, profile_name in sites.items():
            profile = PROFILES[profile_name]
            specs = {
                NUCLEUS: spec(component_version=nucleus.value_as_string),
                STREAM_MANAGER: spec(component_version=stream_manager.value_as_string),
                SHADOW_MANAGER: spec(
                    component_version=shadows.value_as_string,
                    configuration_update=update(merge=stack.to_json_string(shadow_manager_merge())),
                ),
            }
            specs = {k: v for k, v in specs.items() if not k.startswith(profile.refused_prefixes)}
            for c in components:
                merge = site_merge(c, site=site, stream_name=stream.stream_name, profile=profile)
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
                deployment_name=names.deployment(self.fleet_name, site),
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
