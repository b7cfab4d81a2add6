"""The synthesized FloorlineStack: one synth per session (conftest), many checks on it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cdk_testdata import LITE_SITES, SITES, rule_definitions
from iot_policy_oracle import allowed

from cloud.cdk import columns, fleet, iot_policy, provisioning, suite
from cloud.cdk.ingest import DATA_PREFIX
from cloud.cdk.topic_rules import republish_topic_patterns
from cloud.greengrass.profiles import CLASSIC, LITE, PROFILES, STREAM_MANAGER, UPLINK

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}


def resolve(value: Any) -> Any:
    """Resolve Ref/GetAtt/Join to readable strings so documents can be compared as text."""
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return PSEUDO.get(arg, f"<{arg}>")
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return arg[0].join(str(resolve(v)) for v in arg[1])
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def provisioning_join(value: Any, params: dict[str, str]) -> str:
    """Evaluate a provisioning template's Fn::Join/Ref the way IoT does at registration."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(provisioning_join(p, params) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return params[value["Ref"]]
    assert isinstance(value, str), value
    return value


@pytest.fixture(scope="module")
def template(synth) -> Template:
    return Template.from_json(synth.template)


def test_kms_key_rotates(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_lake_bucket_kms_versioned_private_tls_lifecycle_and_logged(synth, template) -> None:
    key_id = next(iter(synth.resources("AWS::KMS::Key")))
    buckets = synth.resources("AWS::S3::Bucket")
    lake_id = next(k for k in buckets if k.startswith("LakeBucket"))
    logs_id = next(k for k in buckets if k.startswith("LakeAccessLogs"))
    lake = buckets[lake_id]["Properties"]
    sse = lake["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(lake["PublicAccessBlockConfiguration"].values())
    assert len(lake["PublicAccessBlockConfiguration"]) == 4
    assert lake["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    glacier = [r for r in lake["LifecycleConfiguration"]["Rules"] if r.get("Transitions")]
    assert glacier and glacier[0]["Prefix"] == "telemetry/"
    assert glacier[0]["Transitions"][0]["StorageClass"] == "GLACIER_IR"
    assert "AccessControl" not in buckets[logs_id]["Properties"]  # bucket policy, not ACL
    # Both buckets deny any request without TLS, or with TLS older than 1.2.
    for bucket_id in (lake_id, logs_id):
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
                                }
                            )
                        ]
                    )
                },
            },
        )
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": bucket_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_kinesis_on_demand_kms(synth) -> None:
    stream = synth.only("AWS::Kinesis::Stream")["Properties"]
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    key_id = next(iter(synth.resources("AWS::KMS::Key")))
    assert stream["StreamEncryption"]["KeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_topic_rules_come_from_the_definitions(synth) -> None:
    rules = synth.resources("AWS::IoT::TopicRule")
    names = sorted(r["Properties"]["RuleName"] for r in rules.values())
    assert names == sorted(
        (r["name"] if isinstance(r, dict) else r.name) for r in rule_definitions()
    )
    for r in rules.values():
        payload = r["Properties"]["TopicRulePayload"]
        assert payload["AwsIotSqlVersion"] == "2016-03-23"
        for action in [*payload["Actions"], payload["ErrorAction"]]:
            (body,) = action.values()
            assert body["RoleArn"]["Fn::GetAtt"][0].startswith("RulesRole")


def test_rules_role_may_republish_only_to_the_rules_topics(synth) -> None:
    roles = synth.resources("AWS::IAM::Role")
    role_id = next(k for k in roles if k.startswith("RulesRole"))
    policy = next(
        v
        for v in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in v["Properties"]["Roles"]
    )
    statements = {st["Sid"]: st for st in policy["Properties"]["PolicyDocument"]["Statement"]}
    republish = statements["Republish"]
    assert republish["Action"] == "iot:Publish"
    expected = [
        f"arn:aws:iot:eu-west-1:123456789012:topic/{p}"
        for p in republish_topic_patterns(rule_definitions())
    ]
    resources = resolve(republish["Resource"])
    assert (resources if isinstance(resources, list) else [resources]) == expected


def test_glue_table_columns_partitions_and_projection(synth) -> None:
    table = synth.only("AWS::Glue::Table")["Properties"]["TableInput"]
    sd = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
        (n, t) for n, t, _ in columns.COLUMNS
    ]
    assert table["Name"] == columns.TABLE
    assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [
        ("site", "string"),
        ("dt", "string"),
    ]
    assert "device" in [c["Name"] for c in sd["Columns"]]  # a column, never a partition
    assert "device" not in [c["Name"] for c in table["PartitionKeys"]]
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.site.type"] == "enum"
    assert params["projection.site.values"] == ",".join(SITES)
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.range"].endswith(",NOW")


def test_firehose_prefix_matches_the_projection_template(synth) -> None:
    """Athena finds only what Firehose writes where the projection template points."""
    table = synth.only("AWS::Glue::Table")["Properties"]["TableInput"]
    template = resolve(table["Parameters"]["storage.location.template"])
    dest = synth.only("AWS::KinesisFirehose::DeliveryStream")["Properties"]
    s3 = dest["ExtendedS3DestinationConfiguration"]
    prefix = s3["Prefix"]
    assert prefix == DATA_PREFIX
    as_projection = re.sub(r"!\{partitionKeyFromQuery:(\w+)\}", r"${\1}", prefix)
    assert template.endswith("/" + as_projection)
    assert template.startswith("s3://<LakeBucket")


def test_decoder_reads_kinesis_and_firehose_partitions_rows_into_parquet(synth) -> None:
    (stream_id,) = synth.resources("AWS::Kinesis::Stream")
    (fn_id, fn) = next(
        (k, v) for k, v in synth.resources("AWS::Lambda::Function").items() if "Decoder" in k
    )
    assert fn["Properties"]["Handler"] == "handler.handler"
    esm = synth.only("AWS::Lambda::EventSourceMapping")["Properties"]
    assert esm["EventSourceArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    assert esm["FunctionName"] == {"Ref": fn_id}
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumRetryAttempts" not in esm and "MaximumRecordAgeInSeconds" not in esm
    dest = synth.only("AWS::KinesisFirehose::DeliveryStream")["Properties"]
    assert dest["DeliveryStreamType"] == "DirectPut"
    assert dest["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == ("CUSTOMER_MANAGED_CMK")
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["DELIVERY_STREAM"] == {
        "Ref": next(iter(synth.resources("AWS::KinesisFirehose::DeliveryStream")))
    }
    lake_id = next(k for k in synth.resources("AWS::S3::Bucket") if k.startswith("LakeBucket"))
    assert env["QUARANTINE_BUCKET"] == {"Ref": lake_id}
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    policy = next(
        v
        for v in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in v["Properties"]["Roles"]
    )
    quarantine = next(
        st
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if st.get("Sid") == "QuarantineRejectedBatches"
    )
    assert quarantine["Action"] == "s3:PutObject"
    assert resolve(quarantine["Resource"]).endswith("/decode-failed/*")
    s3 = dest["ExtendedS3DestinationConfiguration"]
    assert s3["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert s3["ErrorOutputPrefix"].startswith("firehose-errors/")
    assert s3["BufferingHints"]["SizeInMBs"] == 128
    assert s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    types = [p["Type"] for p in s3["ProcessingConfiguration"]["Processors"]]
    assert types == ["RecordDeAggregation", "MetadataExtraction"]
    jq = s3["ProcessingConfiguration"]["Processors"][1]["Parameters"]
    query = next(p["ParameterValue"] for p in jq if p["ParameterName"] == "MetadataExtractionQuery")
    assert query.replace(" ", "") == '{"site":.site,"dt":.dt}'
    conv = s3["DataFormatConversionConfiguration"]
    assert "OpenXJsonSerDe" in conv["InputFormatConfiguration"]["Deserializer"]
    assert "ParquetSerDe" in conv["OutputFormatConfiguration"]["Serializer"]
    schema = resolve(conv["SchemaConfiguration"])
    assert schema["DatabaseName"] == "floorline"
    assert schema["TableName"].startswith("<LakeTable")


def test_athena_workgroup_enforced_and_encrypted(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "ResultConfiguration": {
                        "OutputLocation": Match.any_value(),
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": Match.any_value(),
                        },
                    },
                }
            )
        },
    )


def test_latest_state_table_ttl_pitr_kms(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "device", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at_s", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
        },
    )


def test_alert_topic_kms_and_tls_only(synth, template: Template) -> None:
    topic = synth.only("AWS::SNS::Topic")["Properties"]
    assert topic["KmsMasterKeyId"]["Fn::GetAtt"][1] == "Arn"
    policy = json.dumps(synth.only("AWS::SNS::TopicPolicy")["Properties"])
    assert '"aws:SecureTransport": "false"' in policy and '"Deny"' in policy


def test_core_policy_is_the_reviewed_document(synth) -> None:
    """The deployed policy is exactly iot_policy.core_device_policy (tested on its own)."""
    policies = {k: v for k, v in synth.resources("AWS::IoT::Policy").items() if "Core" in k}
    (core,) = policies.values()
    (alias_id,) = synth.resources("AWS::IoT::RoleAlias")
    expected = iot_policy.core_device_policy(
        partition="aws",
        region="eu-west-1",
        account="123456789012",
        role_alias_arn=f"<{alias_id}.RoleAliasArn>",
    )
    assert resolve(core["Properties"]["PolicyDocument"]) == expected


def test_token_exchange_role_and_alias(synth, template: Template) -> None:
    roles = synth.resources("AWS::IAM::Role")
    tes_id = next(k for k in roles if "TokenExchangeRole" in k)
    trust = roles[tes_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "credentials.iot.amazonaws.com"},
        }
    ]
    alias = synth.only("AWS::IoT::RoleAlias")["Properties"]
    assert alias["RoleArn"] == {"Fn::GetAtt": [tes_id, "Arn"]}
    assert 900 <= alias["CredentialDurationSeconds"] <= 43200


def test_thing_groups_and_one_deployment_per_site(synth) -> None:
    groups = synth.resources("AWS::IoT::ThingGroup")
    fleet_id = next(k for k, v in groups.items() if "ParentGroupName" not in v["Properties"])
    children = {v["Properties"]["ThingGroupName"]: k for k, v in groups.items() if k != fleet_id}
    assert sorted(children) == sorted(provisioning.site_group_name("floorline", s) for s in SITES)
    for group_id in children.values():
        assert groups[group_id]["Properties"]["ParentGroupName"] == {"Ref": fleet_id}
    deployments = synth.resources("AWS::GreengrassV2::Deployment")
    targets = {d["Properties"]["TargetArn"]["Fn::GetAtt"][0]: d for d in deployments.values()}
    assert sorted(targets) == sorted(children.values())  # exactly one per site group
    params = synth.template["Parameters"]
    (stream_id,) = synth.resources("AWS::Kinesis::Stream")
    for site in SITES:
        dep = targets[children[provisioning.site_group_name("floorline", site)]]
        assert dep["DeletionPolicy"] == "Retain"
        props = dep["Properties"]
        assert props["DeploymentPolicies"]["FailureHandlingPolicy"] == "ROLLBACK"
        comps = props["Components"]
        profile = PROFILES[LITE if site in LITE_SITES else CLASSIC]
        for c in suite.device_components():
            assert comps[c.name]["ComponentVersion"] == {"Ref": c.parameter_id}
            assert params[c.parameter_id]["AllowedPattern"] == fleet.SEMVER_PATTERN
            merge = comps[c.name].get("ConfigurationUpdate", {}).get("Merge")
            expected = suite.site_merge(c, site=site, stream_name=f"<{stream_id}>", profile=profile)
            assert (json.loads(resolve(merge)) if merge else {}) == expected
        if site in LITE_SITES:
            # Nucleus lite runs generic components only; the uplink sends raw readings to IoT
            # Core in batches that fit lite's IPC message.
            assert sorted(comps) == sorted(c.name for c in suite.device_components())
            uplink = json.loads(resolve(comps[UPLINK]["ConfigurationUpdate"]["Merge"]))
            assert uplink["useKinesis"] is False
            assert uplink["iotMaxMessageBytes"] <= profile.uplink_maxima["iotMaxMessageBytes"]
            continue
        assert comps[suite.NUCLEUS] == {"ComponentVersion": {"Ref": "NucleusVersion"}}
        # The classic profile brings Stream Manager (the uplink's recipe no longer does).
        assert comps[STREAM_MANAGER] == {"ComponentVersion": {"Ref": "StreamManagerVersion"}}
        shadow = comps[suite.SHADOW_MANAGER]
        assert json.loads(shadow["ConfigurationUpdate"]["Merge"]) == suite.shadow_manager_merge()
        assert "useKinesis" not in json.loads(
            resolve(comps[UPLINK]["ConfigurationUpdate"]["Merge"])
        )


def test_fleet_provisioning_template_and_claim_policy(synth) -> None:
    tpl = synth.only("AWS::IoT::ProvisioningTemplate")["Properties"]
    assert tpl["Enabled"] is True
    body = json.loads(resolve(tpl["TemplateBody"]))
    thing = body["Resources"]["Thing"]["Properties"]
    assert thing["AttributePayload"] == {"site": {"Ref": "SiteId"}}
    assert thing["ThingGroups"] == [
        {"Fn::Join": ["", [provisioning.site_group_name("floorline", ""), {"Ref": "SiteId"}]]}
    ]
    core_id = next(k for k in synth.resources("AWS::IoT::Policy") if "Core" in k)
    assert body["Resources"]["Policy"]["Properties"]["PolicyName"] == f"<{core_id}>"
    # The per-device shadow policy, as IoT evaluates it when dev-7 registers.
    doc = body["Resources"]["ShadowPolicy"]["Properties"]["PolicyDocument"]
    shadow = json.loads(provisioning_join(doc, {"ThingName": "dev-7"}))
    for action in iot_policy.SHADOW_ACTIONS:
        for own in ("dev-7", "dev-7/floorline"):
            assert allowed(
                shadow, action, f"arn:aws:iot:eu-west-1:123456789012:thing/{own}", "", ""
            )
        for other in ("dev-70", "dev-8/floorline"):
            assert not allowed(
                shadow, action, f"arn:aws:iot:eu-west-1:123456789012:thing/{other}", "", ""
            )
    # The device policy, as IoT evaluates it when dev-7 registers at plant-a: its own names.
    doc = body["Resources"]["DevicePolicy"]["Properties"]["PolicyDocument"]
    own = json.loads(provisioning_join(doc, {"ThingName": "dev-7", "SiteId": "plant-a"}))
    assert own == iot_policy.device_policy(
        partition="aws", region="eu-west-1", account="123456789012", thing_name="dev-7",
        site="plant-a",
    )  # fmt: skip
    roles = synth.resources("AWS::IAM::Role")
    prov_role = resolve(tpl["ProvisioningRoleArn"]).strip("<>").split(".")[0]
    principal = roles[prov_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert principal["Principal"] == {"Service": "iot.amazonaws.com"}
    hook = resolve(tpl["PreProvisioningHook"])
    assert hook["PayloadVersion"] == "2020-04-01"
    fns = synth.resources("AWS::Lambda::Function")
    hook_id = hook["TargetArn"].strip("<>").split(".")[0]
    assert fns[hook_id]["Properties"]["Environment"]["Variables"]["SITES"] == ",".join(SITES)
    permission = next(
        v["Properties"]
        for v in synth.resources("AWS::Lambda::Permission").values()
        if v["Properties"]["FunctionName"] == {"Fn::GetAtt": [hook_id, "Arn"]}
    )
    assert permission["Principal"] == "iot.amazonaws.com"
    assert resolve(permission["SourceArn"]).endswith(f":provisioningtemplate/{tpl['TemplateName']}")
    claim = next(v for k, v in synth.resources("AWS::IoT::Policy").items() if "Claim" in k)
    text = json.dumps(resolve(claim["Properties"]["PolicyDocument"]))
    assert f"provisioning-templates/{tpl['TemplateName']}/provision" in text
    assert "greengrass:" not in text and "AssumeRoleWithCertificate" not in text


def test_cfn_lint_reports_no_errors(synth) -> None:
    from cfnlint.api import lint_file

    matches = lint_file(synth.outdir / "Floorline.template.json")
    levels = {m.rule.id[0] for m in matches}
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert not errors, "\n".join(errors)
    # Warnings are known and few (redundant DependsOn, CDK's unused Firehose mapping).
    assert levels <= {"W", "I"}, levels
    assert len(matches) < 20, [str(m) for m in matches]


def test_cdk_nag_clean_and_every_acknowledgment_has_a_reason(synth) -> None:
    reports = {p["pluginName"]: p for p in synth.report["pluginReports"]}
    nag = reports["AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == []
    suppressed = [
        *nag["suppressedViolations"],
        *reports["CloudFormation Validate"]["suppressedViolations"],
    ]
    for v in suppressed:
        assert len(v.get("reason", "")) >= 40, v["ruleName"]
    # No stale acknowledgment: each one the stack declares matched a real finding.
    seen = {v["acknowledgedId"] for v in suppressed}
    assert set(synth.stack.acknowledgments) <= seen, set(synth.stack.acknowledgments) - seen


def test_unacknowledged_findings_fail_the_synth(tmp_path) -> None:
    """The nag check can fail: the same stack without its acknowledgments does not synth."""
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from cloud.cdk.app import FEATURE_FLAGS
    from cloud.cdk.stack import FloorlineStack

    app = cdk.App(outdir=str(tmp_path), context=dict(FEATURE_FLAGS))
    FloorlineStack(app, "Floorline", sites=SITES, rules=rule_definitions())
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="Validation"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    nag = next(p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions")
    rules = {v["ruleName"] for v in nag["violations"]}
    assert "AwsSolutions-KDS3" in rules
    assert any(r.startswith("AwsSolutions-IAM4") for r in rules)
