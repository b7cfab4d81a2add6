"""Topic rules as data -> AWS::IoT::TopicRule properties.

A rule definition (cloud/rules) is a name, an IoT SQL statement and a list of actions, each
`{"type": ..., "params": {...}}`; the same definitions drive the local rules engine. This module
is the one adapter from that shape to CloudFormation. Definitions name no AWS resources: the
stack supplies them as `RuleTargets`, so a definition runs unchanged on a laptop and in AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from components.core import topics

SQL_VERSION: Final = "2016-03-23"
_RULE_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")

# Substitution templates (evaluated by IoT Core against the incoming message).
THING_TEMPLATE: Final = f"${{topic({topics.TOPIC_THING_INDEX})}}"
DAY_TEMPLATE: Final = '${parse_time("yyyy-MM-dd", timestamp(), "UTC")}'


class RuleDefinitionError(ValueError):
    """A rule definition the adapter cannot turn into a topic rule; `.evidence` is the input."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True, slots=True)
class RuleTargets:
    """The deployed resources rule actions write to (names/ARNs or CDK tokens)."""

    role_arn: str
    stream_name: str
    table_name: str
    alert_topic_arn: str
    error_bucket_name: str


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read a field from a mapping or an object (definitions may be dicts or dataclasses)."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _kinesis(params: Mapping[str, Any], t: RuleTargets) -> dict[str, Any]:
    return {
        "Kinesis": {
            "StreamName": t.stream_name,
            "PartitionKey": params.get("partition_key", THING_TEMPLATE),
            "RoleArn": t.role_arn,
        }
    }


def _dynamodbv2(params: Mapping[str, Any], t: RuleTargets) -> dict[str, Any]:
    return {"DynamoDBv2": {"PutItem": {"TableName": t.table_name}, "RoleArn": t.role_arn}}


def _sns(params: Mapping[str, Any], t: RuleTargets) -> dict[str, Any]:
    message_format = str(params.get("message_format", "JSON")).upper()
    if message_format not in ("JSON", "RAW"):
        raise RuleDefinitionError(f"sns message_format {message_format!r} is not JSON or RAW")
    return {
        "Sns": {
            "TargetArn": t.alert_topic_arn,
            "MessageFormat": message_format,
            "RoleArn": t.role_arn,
        }
    }


def _republish(params: Mapping[str, Any], t: RuleTargets) -> dict[str, Any]:
    topic = params.get("topic")
    if not isinstance(topic, str) or not topic:
        raise RuleDefinitionError("republish needs a 'topic' param", evidence=dict(params))
    qos = int(params.get("qos", 0))
    if qos not in (0, 1):
        raise RuleDefinitionError(f"republish qos {qos} is not 0 or 1", evidence=dict(params))
    return {"Republish": {"Topic": topic, "Qos": qos, "RoleArn": t.role_arn}}


def _s3(params: Mapping[str, Any], t: RuleTargets) -> dict[str, Any]:
    key = params.get("key")
    if not isinstance(key, str) or not key:
        raise RuleDefinitionError("s3 needs a 'key' param", evidence=dict(params))
    return {"S3": {"BucketName": t.error_bucket_name, "Key": key, "RoleArn": t.role_arn}}


_ACTIONS: Final = {
    "kinesis": _kinesis,
    "dynamodbv2": _dynamodbv2,
    "sns": _sns,
    "republish": _republish,
    "s3": _s3,
}
ACTION_TYPES: Final = frozenset(_ACTIONS)


def action_to_cfn(action: Any, targets: RuleTargets) -> dict[str, Any]:
    """One `{type, params}` action as a CloudFormation TopicRule Action."""
    kind = _get(action, "type")
    params = _get(action, "params") or {}
    if kind not in _ACTIONS:
        raise RuleDefinitionError(
            f"action type {kind!r} is not one of {sorted(ACTION_TYPES)}", evidence=action
        )
    if not isinstance(params, Mapping):
        raise RuleDefinitionError("action params is not a mapping", evidence=action)
    return _ACTIONS[kind](params, targets)


def default_error_action(rule_name: str) -> dict[str, Any]:
    """Failed actions land in the lake bucket, one object per failure, by rule and day."""
    return {
        "type": "s3",
        "params": {"key": f"rule-errors/{rule_name}/{DAY_TEMPLATE}/${{newuuid()}}.json"},
    }


def rule_to_cfn(rule: Any, targets: RuleTargets) -> dict[str, Any]:
    """CloudFormation properties of AWS::IoT::TopicRule for one rule definition."""
    name = _get(rule, "name")
    sql = _get(rule, "sql")
    actions = list(_get(rule, "actions") or ())
    if not isinstance(name, str) or not _RULE_NAME_RE.match(name):
        raise RuleDefinitionError(f"rule name {name!r} is not [A-Za-z0-9_]{{1,128}}", rule)
    if not isinstance(sql, str) or "select" not in sql.lower():
        raise RuleDefinitionError(f"rule {name} has no SELECT statement", evidence=rule)
    if not actions:
        raise RuleDefinitionError(f"rule {name} has no actions", evidence=rule)
    if len(actions) > 10:  # IoT Core: at most 10 actions per rule
        raise RuleDefinitionError(f"rule {name} has {len(actions)} actions, limit 10", rule)
    error_action = _get(rule, "error_action") or default_error_action(name)
    payload: dict[str, Any] = {
        "Sql": sql,
        "AwsIotSqlVersion": SQL_VERSION,
        "RuleDisabled": False,
        "Actions": [action_to_cfn(a, targets) for a in actions],
        "ErrorAction": action_to_cfn(error_action, targets),
    }
    description = _get(rule, "description")
    if description:
        payload["Description"] = str(description)
    return {"RuleName": name, "TopicRulePayload": payload}


def rules_to_cfn(rules: Iterable[Any], targets: RuleTargets) -> list[dict[str, Any]]:
    """All rules; duplicate names are an error (IoT rule names are unique per account/region)."""
    out = [rule_to_cfn(r, targets) for r in rules]
    names = [r["RuleName"] for r in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RuleDefinitionError(f"duplicate rule names {dupes}", evidence=names)
    return out
