"""FloorlineStack: the cloud half of floorline in one stack."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from cloud.cdk.fleet import FleetConstruct
from cloud.cdk.ingest import IngestConstruct
from cloud.cdk.lake import LakeConstruct
from cloud.cdk.topic_rules import republish_topic_patterns, rules_to_cfn
from cloud.greengrass.profiles import CLASSIC

# Shared with cloud/rules/definitions.py (the state rule's SELECT produces these attributes;
# its actions name these logical targets). Tests check both sides agree.
STATE_PARTITION_KEY = "device"
STATE_TTL_ATTRIBUTE = "expires_at_s"
TELEMETRY_STREAM = "telemetry_stream"
STATE_TABLE = "state_table"
ALERT_TOPIC = "alert_topic"
ERROR_BUCKET = "error_bucket"


class FloorlineStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sites: Sequence[str] | Mapping[str, str],  # site ids, or site id -> nucleus profile
        rules: Iterable[Any],
        fleet: str = "floorline",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.acknowledgments: list[str] = []  # cdk-nag acknowledgments (nag.py), set by the app
        self.key = kms.Key(
            self,
            "Key",
            description="floorline: lake, stream, state table, alerts",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        plan = dict(sites) if isinstance(sites, Mapping) else dict.fromkeys(sites, CLASSIC)
        self.lake = LakeConstruct(self, "Lake", key=self.key, sites=list(plan))
        self.ingest = IngestConstruct(self, "Ingest", key=self.key, lake=self.lake)

        self.state_table = dynamodb.Table(
            self,
            "LatestState",
            partition_key=dynamodb.Attribute(
                name=STATE_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=STATE_TTL_ATTRIBUTE,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.alert_topic = sns.Topic(
            self,
            "Alerts",
            display_name="floorline alerts",
            master_key=self.key,
            enforce_ssl=True,
        )

        self.rules_role = iam.Role(
            self,
            "RulesRole",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description="floorline topic rules: Kinesis, latest state, alerts, error objects",
        )
        rules = list(rules)
        # Exact actions, not CDK's grant sets (those add wildcards such as kms:ReEncrypt*).
        grants = [
            ("Telemetry", ["kinesis:PutRecord"], [self.ingest.stream.stream_arn]),
            ("LatestState", ["dynamodb:PutItem"], [self.state_table.table_arn]),
            ("Alerts", ["sns:Publish"], [self.alert_topic.topic_arn]),
            ("ErrorObjects", ["s3:PutObject"], [self.lake.bucket.arn_for_objects("rule-errors/*")]),
            # Kinesis, SNS, S3 and DynamoDB are all encrypted with the stack's key.
            ("DataKeys", ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"], [self.key.key_arn]),
        ]
        self.republish_topic_patterns = republish_topic_patterns(rules)
        if self.republish_topic_patterns:
            arns = [
                f"arn:{self.partition}:iot:{self.region}:{self.account}:topic/{pattern}"
                for pattern in self.republish_topic_patterns
            ]
            grants.append(("Republish", ["iot:Publish"], arns))
        for sid, actions, resources in grants:
            self.rules_role.add_to_policy(
                iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
            )
        bindings = {
            TELEMETRY_STREAM: self.ingest.stream.stream_name,
            STATE_TABLE: self.state_table.table_name,
            ALERT_TOPIC: self.alert_topic.topic_arn,
            ERROR_BUCKET: self.lake.bucket.bucket_name,
        }
        self.topic_rules = [
            cdk.CfnResource(
                self, f"Rule{props['RuleName']}", type="AWS::IoT::TopicRule", properties=props
            )
            for props in rules_to_cfn(rules, bindings, self.rules_role.role_arn)
        ]
        for rule in self.topic_rules:
            rule.node.add_dependency(self.rules_role)

        self.fleet = FleetConstruct(
            self, "Fleet", fleet=fleet, sites=plan, stream=self.ingest.stream, key=self.key
        )

        outputs = {
            "LakeBucket": self.lake.bucket.bucket_name,
            "GlueTable": f"floorline.{self.lake.table_name}",
            "AthenaWorkGroup": self.lake.workgroup.ref,
            "StreamName": self.ingest.stream.stream_name,
            "StateTable": self.state_table.table_name,
            "AlertTopic": self.alert_topic.topic_arn,
            "RoleAlias": self.fleet.role_alias.ref,
            "CorePolicy": self.fleet.core_policy.ref,
            "ClaimPolicy": self.fleet.provisioning.claim_policy.ref,
            "ProvisioningTemplate": self.fleet.provisioning.template_name,
            "FleetThingGroup": self.fleet.fleet_group.ref,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
