"""rule_to_cfn: rule definitions -> AWS::IoT::TopicRule properties."""

from __future__ import annotations

import pytest
from cdk_testdata import rule_definitions

from cloud.cdk.topic_rules import (
    SQL_VERSION,
    THING_TEMPLATE,
    RuleDefinitionError,
    RuleTargets,
    rule_to_cfn,
    rules_to_cfn,
)

T = RuleTargets(
    role_arn="arn:aws:iam::1:role/rules",
    stream_name="raw",
    table_name="state",
    alert_topic_arn="arn:aws:sns:eu-west-1:1:alerts",
    error_bucket_name="lake",
)


def rule(*actions: dict, name: str = "r1", sql: str = "SELECT * FROM 'floorline/+/+/raw'"):
    return {"name": name, "sql": sql, "actions": list(actions)}


def test_kinesis_action_keys_by_thing_and_uses_targets() -> None:
    props = rule_to_cfn(rule({"type": "kinesis", "params": {}}), T)
    payload = props["TopicRulePayload"]
    assert props["RuleName"] == "r1"
    assert payload["AwsIotSqlVersion"] == SQL_VERSION == "2016-03-23"
    assert payload["Actions"] == [
        {"Kinesis": {"StreamName": "raw", "PartitionKey": "${topic(3)}", "RoleArn": T.role_arn}}
    ]
    assert THING_TEMPLATE == "${topic(3)}"


def test_every_action_type_maps_to_its_cloudformation_key() -> None:
    props = rule_to_cfn(
        rule(
            {"type": "kinesis", "params": {"partition_key": "${newuuid()}"}},
            {"type": "dynamodbv2", "params": {}},
            {"type": "sns", "params": {"message_format": "raw"}},
            {"type": "republish", "params": {"topic": "floorline/fleet/alerts", "qos": 1}},
            {"type": "s3", "params": {"key": "x/${newuuid()}"}},
        ),
        T,
    )
    actions = props["TopicRulePayload"]["Actions"]
    assert [next(iter(a)) for a in actions] == ["Kinesis", "DynamoDBv2", "Sns", "Republish", "S3"]
    assert actions[0]["Kinesis"]["PartitionKey"] == "${newuuid()}"
    assert actions[1]["DynamoDBv2"] == {"PutItem": {"TableName": "state"}, "RoleArn": T.role_arn}
    assert actions[2]["Sns"]["MessageFormat"] == "RAW"
    assert actions[3]["Republish"] == {
        "Topic": "floorline/fleet/alerts",
        "Qos": 1,
        "RoleArn": T.role_arn,
    }
    assert actions[4]["S3"] == {
        "BucketName": "lake",
        "Key": "x/${newuuid()}",
        "RoleArn": T.role_arn,
    }


def test_default_error_action_writes_to_lake_bucket_by_rule() -> None:
    err = rule_to_cfn(rule({"type": "kinesis"}), T)["TopicRulePayload"]["ErrorAction"]["S3"]
    assert err["BucketName"] == "lake"
    assert err["Key"].startswith("rule-errors/r1/")
    assert "${newuuid()}" in err["Key"]


def test_rules_may_be_objects_not_only_dicts() -> None:
    class Rule:
        name = "obj_rule"
        sql = "SELECT * FROM 'floorline/+/+/alert'"
        actions = ({"type": "sns", "params": {}},)

    assert rule_to_cfn(Rule(), T)["RuleName"] == "obj_rule"


@pytest.mark.parametrize(
    "bad",
    [
        rule({"type": "kinesis"}, name="has-dash"),
        rule({"type": "kinesis"}, name=""),
        rule({"type": "kinesis"}, sql="FROM 'x'"),
        rule(),
        rule({"type": "lambda", "params": {}}),
        rule({"type": "republish", "params": {}}),
        rule({"type": "republish", "params": {"topic": "t", "qos": 2}}),
        rule({"type": "sns", "params": {"message_format": "XML"}}),
        rule({"type": "s3", "params": {}}),
        rule({"type": "kinesis", "params": ["not", "a", "mapping"]}),
        rule(*[{"type": "kinesis"}] * 11),
    ],
)
def test_bad_definitions_are_named_errors(bad: dict) -> None:
    with pytest.raises(RuleDefinitionError):
        rule_to_cfn(bad, T)


def test_duplicate_rule_names_are_rejected() -> None:
    with pytest.raises(RuleDefinitionError, match="duplicate"):
        rules_to_cfn([rule({"type": "kinesis"}), rule({"type": "sns"})], T)


def test_the_project_rule_definitions_all_convert() -> None:
    out = rules_to_cfn(rule_definitions(), T)
    assert out, "no rule definitions"
    for props in out:
        assert props["TopicRulePayload"]["Actions"]
        assert "ErrorAction" in props["TopicRulePayload"]
