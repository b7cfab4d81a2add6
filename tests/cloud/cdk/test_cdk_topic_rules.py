"""rule_to_cfn: rule definitions -> AWS::IoT::TopicRule properties."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_testdata import PLACEHOLDER_RULES, rule_definitions

from cloud.cdk.topic_rules import (
    SQL_VERSION,
    RuleDefinitionError,
    republish_topic_patterns,
    rule_to_cfn,
    rules_to_cfn,
)

ROLE = "arn:aws:iam::1:role/rules"
BOUND = {
    "telemetry_stream": "raw",
    "state_table": "state",
    "alert_topic": "arn:aws:sns:eu-west-1:1:alerts",
    "error_bucket": "lake",
}
ERR = {"type": "s3", "target": "error_bucket", "params": {"key": "e/${newuuid()}"}}


def rule(*actions: dict, name: str = "r1", sql: str = "SELECT * FROM 'floorline/+/+/raw'"):
    return {"name": name, "sql": sql, "actions": list(actions), "error_action": ERR}


def test_kinesis_action_binds_its_target_and_keeps_api_params_as_cfn_names() -> None:
    kinesis = {"type": "kinesis", "target": "telemetry_stream", "params": {"partitionKey": "k"}}
    props = rule_to_cfn(rule(kinesis), BOUND, ROLE)
    payload = props["TopicRulePayload"]
    assert props["RuleName"] == "r1"
    assert payload["AwsIotSqlVersion"] == SQL_VERSION == "2016-03-23"
    assert payload["Actions"] == [
        {"Kinesis": {"StreamName": "raw", "PartitionKey": "k", "RoleArn": ROLE}}
    ]
    assert payload["ErrorAction"] == {
        "S3": {"BucketName": "lake", "Key": "e/${newuuid()}", "RoleArn": ROLE}
    }


def test_every_action_type_maps_to_its_cloudformation_key() -> None:
    props = rule_to_cfn(
        rule(
            {"type": "kinesis", "target": "telemetry_stream", "params": {"partitionKey": "p"}},
            {"type": "dynamoDBv2", "target": "state_table"},
            {"type": "sns", "target": "alert_topic", "params": {"messageFormat": "RAW"}},
            {"type": "republish", "params": {"topic": "floorline-ops/${topic(2)}/alert", "qos": 1}},
            {"type": "s3", "target": "error_bucket", "params": {"key": "x"}},
        ),
        BOUND,
        ROLE,
    )
    actions = props["TopicRulePayload"]["Actions"]
    assert [next(iter(a)) for a in actions] == ["Kinesis", "DynamoDBv2", "Sns", "Republish", "S3"]
    assert actions[1]["DynamoDBv2"] == {"PutItem": {"TableName": "state"}, "RoleArn": ROLE}
    assert actions[2]["Sns"] == {
        "TargetArn": BOUND["alert_topic"],
        "MessageFormat": "RAW",
        "RoleArn": ROLE,
    }
    assert actions[3]["Republish"] == {
        "Topic": "floorline-ops/${topic(2)}/alert",
        "Qos": 1,
        "RoleArn": ROLE,
    }


def test_rules_may_be_objects_not_only_dicts() -> None:
    class Action:
        type, target, params = "sns", "alert_topic", {"messageFormat": "JSON"}

    class Rule:
        name, description = "obj_rule", "an object"
        sql = "SELECT * FROM 'floorline/+/+/alert'"
        actions, error_action, sql_version = (Action(),), ERR, "2016-03-23"

    props = rule_to_cfn(Rule(), BOUND, ROLE)
    assert props["TopicRulePayload"]["Description"] == "an object"
    assert props["TopicRulePayload"]["Actions"][0]["Sns"]["MessageFormat"] == "JSON"


def test_republish_topics_become_grant_patterns() -> None:
    assert republish_topic_patterns(PLACEHOLDER_RULES) == ["floorline-ops/*/alert"]


K = {"type": "kinesis", "target": "telemetry_stream", "params": {"partitionKey": "p"}}


@pytest.mark.parametrize(
    "bad",
    [
        rule(K, name="has-dash"),
        rule(K, name=""),
        rule(K, sql="FROM 'x'"),
        rule(),
        rule(*[K] * 11),
        {**rule(K), "error_action": None},
        rule({"type": "lambda", "params": {}}),
        rule({"type": "kinesis", "target": "nowhere", "params": {"partitionKey": "p"}}),
        rule({"type": "kinesis", "target": "telemetry_stream"}),
        rule({"type": "republish", "params": {}}),
        rule({"type": "republish", "params": {"topic": "t", "qos": 2}}),
        rule({"type": "republish", "target": "alert_topic", "params": {"topic": "t"}}),
        rule({"type": "sns", "target": "alert_topic", "params": {"messageFormat": "XML"}}),
        rule({"type": "s3", "target": "error_bucket", "params": {}}),
        rule({"type": "kinesis", "target": "telemetry_stream", "params": ["not", "a", "map"]}),
    ],
)
def test_bad_definitions_are_named_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(RuleDefinitionError):
        rule_to_cfn(bad, BOUND, ROLE)


def test_duplicate_rule_names_are_rejected() -> None:
    with pytest.raises(RuleDefinitionError, match="duplicate"):
        rules_to_cfn([rule(K), rule(K)], BOUND, ROLE)


def test_the_project_rule_definitions_all_convert() -> None:
    out = rules_to_cfn(rule_definitions(), BOUND, ROLE)
    assert out, "no rule definitions"
    for props in out:
        assert props["TopicRulePayload"]["Actions"]
        assert "S3" in props["TopicRulePayload"]["ErrorAction"]


def test_adapter_agrees_with_the_definitions_own_payload() -> None:
    """Once cloud/rules is present: our CloudFormation shape equals its API-shape payload."""
    definitions = pytest.importorskip("cloud.rules.definitions")
    for definition in definitions.RULES:
        ours = rule_to_cfn(definition, BOUND, ROLE)["TopicRulePayload"]
        theirs = definitions.topic_rule_payload(definition, BOUND, ROLE)
        assert ours == _to_cfn_case(theirs), definition.name


def _to_cfn_case(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _to_cfn_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cfn_case(v) for v in value]
    return value
