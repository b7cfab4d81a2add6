"""cdk-nag AwsSolutions findings this stack accepts, each with its reason.

cdk-nag 3 runs as a policy-validation plugin: an unacknowledged finding fails `app.synth()`.
Acknowledgments are attached to the construct that raises the finding (the stack itself only
for the one template-level finding), so a new resource with the same weakness is still
reported. Granular IAM5 findings are acknowledged one by one (`[Action::...]`,
`[Resource::...]`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import aws_cdk as cdk
from constructs import IConstruct

if TYPE_CHECKING:
    from cloud.cdk.stack import FloorlineStack

PLUGIN: Final = "AwsSolutions::"
CFN_VALIDATE: Final = "CloudFormation-Validate::"  # CDK's built-in template validation

_FIREHOSE_S3_REASON: Final = (
    "CDK's Firehose S3 destination grant, scoped to the lake bucket and its objects: Firehose "
    "needs get/list/put/abort (multipart) on the destination, per the Firehose S3 access docs."
)
_FIREHOSE_KMS_REASON: Final = (
    "CDK's Firehose grant on the stack's one key (server-side encryption of the delivery "
    "stream and of the objects it writes); the resource is a single key ARN."
)


def _arn_ref(construct: IConstruct) -> str:
    """How cdk-nag names `<LogicalId.Arn>` of an L2 construct's resource in IAM5 findings."""
    stack = cdk.Stack.of(construct)
    return f"<{stack.get_logical_id(construct.node.default_child)}.Arn>"  # type: ignore[arg-type]


def firehose_role_findings(stack: FloorlineStack) -> list[tuple[str, str]]:
    """Findings on the Firehose destination role that CDK's L2 creates."""
    lake = _arn_ref(stack.lake.bucket)
    return [
        ("AwsSolutions-IAM5[Action::s3:GetObject*]", _FIREHOSE_S3_REASON),
        ("AwsSolutions-IAM5[Action::s3:GetBucket*]", _FIREHOSE_S3_REASON),
        ("AwsSolutions-IAM5[Action::s3:List*]", _FIREHOSE_S3_REASON),
        ("AwsSolutions-IAM5[Action::s3:DeleteObject*]", _FIREHOSE_S3_REASON),
        ("AwsSolutions-IAM5[Action::s3:Abort*]", _FIREHOSE_S3_REASON),
        (f"AwsSolutions-IAM5[Resource::{lake}/*]", _FIREHOSE_S3_REASON),
        ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", _FIREHOSE_KMS_REASON),
        ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", _FIREHOSE_KMS_REASON),
        (
            "AwsSolutions-IAM5[Resource::*]",
            "glue:GetSchemaVersion accepts no resource-level scoping; Firehose calls it while "
            "converting records with the Glue table's schema.",
        ),
    ]


def acknowledge(scope: IConstruct, finding: str, reason: str, plugin: str = PLUGIN) -> str:
    ack_id = plugin + finding
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=ack_id, reason=reason))
    return ack_id


def acknowledge_findings(stack: FloorlineStack) -> list[str]:
    """Attach every acknowledgment; return their ids (tests check none is stale)."""
    done = [
        acknowledge(stack.ingest.delivery_stream, finding, reason)
        for finding, reason in firehose_role_findings(stack)
    ]
    done.append(
        acknowledge(
            stack.ingest.stream,
            "AwsSolutions-KDS3",
            "A customer managed key on purpose: one rotated key, under the stack's key policy, "
            "protects every store of device data (stream, lake, state, alerts).",
        )
    )
    done.append(
        acknowledge(
            stack.rules_role,
            f"AwsSolutions-IAM5[Resource::{_arn_ref(stack.lake.bucket)}/rule-errors/*]",
            "IoT rule error actions write one object per failed action with a generated key; the "
            "grant is PutObject only, under the rule-errors/ prefix.",
        )
    )
    done.append(
        acknowledge(
            stack.ingest.decoder_role,
            f"AwsSolutions-IAM5[Resource::{_arn_ref(stack.lake.bucket)}/decode-failed/*]",
            "The decoder quarantines a rejected batch as one object per Kinesis sequence "
            "number; the grant is PutObject only, under the decode-failed/ prefix.",
        )
    )
    done.append(
        acknowledge(
            stack.fleet.provisioning.provisioning_hook_role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:"
            "<AWS::AccountId>:thing/*]",
            "The provisioning hook must look up any requested thing name to refuse names that "
            "already exist; DescribeThing (read-only) is the only action granted.",
        )
    )
    done.append(
        acknowledge(
            stack.fleet.tes_role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<ArtifactsBucket>/*]",
            "Core devices download component artifacts whose keys are component/version/file, "
            "written by the publish step; GetObject only, in the artifacts bucket.",
        )
    )
    done.append(
        acknowledge(
            stack.fleet.provisioning.provisioning_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSIoTThingsRegistration]",
            "The AWS-maintained policy for fleet provisioning roles: it tracks the registry "
            "actions that provisioning templates need as AWS adds them.",
        )
    )
    done.append(
        acknowledge(
            stack,
            "W7001",
            "The awscdkawskinesisfirehoseCidrBlocks mapping is emitted by CDK's Firehose L2 for "
            "Redshift/Splunk destinations and is unused here; it has no effect on the stack.",
            plugin=CFN_VALIDATE,
        )
    )
    for pattern in stack.republish_topic_patterns:
        if "*" in pattern:
            arn = f"arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/{pattern}"
            done.append(
                acknowledge(
                    stack.rules_role,
                    f"AwsSolutions-IAM5[Resource::{arn}]",
                    "A republish action's topic holds a substitution template (the site); IoT "
                    "evaluates it per message, so the grant covers that one topic level only.",
                )
            )
    return done
