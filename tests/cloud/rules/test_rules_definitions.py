"""The rule definitions are valid AWS IoT rules built from the one topic scheme."""

from __future__ import annotations

import re

import boto3
import pytest
from moto import mock_aws

from cloud.iot_sql import Message, parse, parse_template
from cloud.rules import definitions as d
from components.core import topics

RESOURCES = {
    d.TELEMETRY_STREAM: "floorline-telemetry",
    d.STATE_TABLE: "floorline-state",
    d.ALERT_TOPIC: "arn:aws:sns:eu-west-1:123456789012:floorline-alerts",
    d.ERROR_BUCKET: "floorline-rule-errors",
}
ROLE = "arn:aws:iam::123456789012:role/floorline-rules"


@pytest.mark.parametrize("rule", d.RULES, ids=lambda r: r.name)
def test_rule_is_well_formed(rule: d.TopicRule) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_]{1,128}", rule.name)
    assert rule.sql_version == "2016-03-23"
    query = parse(rule.sql)
    assert query.topic_filter in {topics.cloud_filter(kind) for kind in topics.UPLINK_KINDS}
    assert 1 <= len(rule.actions) <= 10  # AWS: at most 10 actions per rule
    for action in (*rule.actions, rule.error_action):
        assert action.type in d.ACTION_TYPES
        assert (action.target is None) == (action.type == d.REPUBLISH)
        assert action.target is None or action.target in d.TARGETS
        for value in action.params.values():
            if isinstance(value, str):
                parse_template(value)  # raises SqlSyntaxError if a ${...} is bad
    assert rule.error_action.type == d.S3


def test_rule_names_are_unique() -> None:
    assert len({rule.name for rule in d.RULES}) == len(d.RULES)


def test_every_record_kind_reaches_the_telemetry_stream() -> None:
    """Batches and alerts alike, so the lake holds every record class."""
    batch_kinds = {topics.AGGREGATE, topics.EVENT, topics.HEALTH, topics.RAW, topics.ALERT}
    to_stream = {
        parse(rule.sql).topic_filter
        for rule in d.RULES
        if any(action.type == d.KINESIS for action in rule.actions)
    }
    assert to_stream == {topics.cloud_filter(kind) for kind in batch_kinds}


def test_alert_fanout_topic_is_the_ops_topic_and_matches_no_rule() -> None:
    alert_rule = d.rule("floorline_alerts")
    (republish,) = [a for a in alert_rule.actions if a.type == d.REPUBLISH]
    source = topics.device_topic("plant-7", "dev-001", topics.ALERT)
    rendered = parse_template(str(republish.params["topic"])).render(Message(source, b"{}", 0))
    assert rendered == topics.ops_topic("plant-7", topics.ALERT)
    assert not any(parse(rule.sql).matches(rendered) for rule in d.RULES)  # no republish loop


@mock_aws
def test_payloads_are_accepted_by_the_iot_api() -> None:
    """CreateTopicRule through the real boto3 client (moto); the rule reads back unchanged."""
    iot = boto3.client("iot", region_name="eu-west-1")
    for rule in d.RULES:
        payload = d.topic_rule_payload(rule, RESOURCES, ROLE)
        iot.create_topic_rule(ruleName=rule.name, topicRulePayload=payload)
        stored = iot.get_topic_rule(ruleName=rule.name)["rule"]
        assert stored["sql"] == rule.sql
        assert stored["awsIotSqlVersion"] == "2016-03-23"
        assert len(stored["actions"]) == len(rule.actions)
    kinesis_payload = d.topic_rule_payload(d.RULES[0], RESOURCES, ROLE)
    assert kinesis_payload["actions"] == [
        {
            "kinesis": {
                "partitionKey": "${topic(3)}",
                "roleArn": ROLE,
                "streamName": "floorline-telemetry",
            }
        }
    ]
    state = d.topic_rule_payload(d.rule("floorline_device_state"), RESOURCES, ROLE)
    assert state["actions"] == [
        {"dynamoDBv2": {"roleArn": ROLE, "putItem": {"tableName": "floorline-state"}}}
    ]
