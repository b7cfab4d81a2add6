"""Topic rules as data -> AWS::IoT::TopicRule properties.

A rule definition (cloud/rules/definitions.py) has a name, a description, IoT SQL, a SQL
version, actions and an error action. An action is `{type, target, params}`: `type` as the AWS
IoT API names it (`kinesis`, `dynamoDBv2`, `sns`, `republish`, `s3`), `target` a logical
resource (`telemetry_stream`, `state_table`, `alert_topic`, `error_bucket`) that the deployer
binds to a real one, `params` the remaining action fields under their API names
(`partitionKey`, `messageFormat`, `topic`, `qos`, `key`). The same definitions drive the local
rules engine; this module is the one adapter to CloudFormation. Definitions may be the
definitions module's dataclasses or plain mappings of the same fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

SQL_VERSION: Final = "2016-03-23"
MAX_ACTIONS: Final = 10  # IoT Core: actions per rule
_RULE_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_TEMPLATE_RE = re.compile(r"\$\{[^}]*\}")

# API action type -> (CloudFormation action key, target field path or None, takes "name"|"arn").
ACTION_SPECS: Final = {
    "kinesis": ("Kinesis", "StreamName"),
    "dynamoDBv2": ("DynamoDBv2", "PutItem.TableName"),
    "sns": ("Sns", "TargetArn"),
    "republish": ("Republish", None),
    "s3": ("S3", "BucketName"),
}


class RuleDefinitionError(ValueError):
    """A rule definition the adapter cannot turn into a topic rule; `.evidence` is the input."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a mapping or an object (definitions are dataclasses or dicts)."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _cfn_name(api_name: str) -> str:
    """API field name -> CloudFormation property name (partitionKey -> PartitionKey)."""
    return api_name[:1].upper() + api_name[1:]


def action_to_cfn(action: Any, resources: Mapping[str, str], role_arn: str) -> dict[str, Any]:
    """One action as a CloudFormation TopicRule Action."""
    kind = _get(action, "type")
    if kind not in ACTION_SPECS:
        raise RuleDefinitionError(
            f"action type {kind!r} is not one of {sorted(ACTION_SPECS)}", evidence=action
        )
    params = _get(action, "params") or {}
    if not isinstance(params, Mapping):
        raise RuleDefinitionError("action params is not a mapping", evidence=action)
    cfn_key, target_field = ACTION_SPECS[kind]
    body: dict[str, Any] = {_cfn_name(k): v for k, v in params.items()}
    body["RoleArn"] = role_arn
    target = _get(action, "target")
    if target_field is not None:
        if target not in resources:
            raise RuleDefinitionError(
                f"{kind} action target {target!r} is not bound to a resource", evidence=action
            )
        outer, _, inner = target_field.partition(".")
        body[outer] = {inner: resources[target]} if inner else resources[target]
    elif target is not None:
        raise RuleDefinitionError(f"{kind} takes no target, got {target!r}", evidence=action)
    if kind == "republish":
        if not isinstance(body.get("Topic"), str) or not body["Topic"]:
            raise RuleDefinitionError("republish needs a 'topic' param", evidence=action)
        body["Qos"] = int(body.get("Qos", 0))
        if body["Qos"] not in (0, 1):
            raise RuleDefinitionError(f"republish qos {body['Qos']} is not 0 or 1", action)
    if kind == "s3" and not body.get("Key"):
        raise RuleDefinitionError("s3 needs a 'key' param", evidence=action)
    if kind == "sns" and body.get("MessageFormat", "RAW") not in ("RAW", "JSON"):
        raise RuleDefinitionError(f"sns messageFormat {body['MessageFormat']!r}", action)
    if kind == "kinesis" and "PartitionKey" not in body:
        raise RuleDefinitionError("kinesis needs a 'partitionKey' param", evidence=action)
    return {cfn_key: body}


def rule_to_cfn(rule: Any, resources: Mapping[str, str], role_arn: str) -> dict[str, Any]:
    """CloudFormation properties of AWS::IoT::TopicRule for one rule definition."""
    name = _get(rule, "name")
    sql = _get(rule, "sql")
    actions = list(_get(rule, "actions") or ())
    error_action = _get(rule, "error_action")
    if not isinstance(name, str) or not _RULE_NAME_RE.match(name):
        raise RuleDefinitionError(f"rule name {name!r} is not [A-Za-z0-9_]{{1,128}}", rule)
    if not isinstance(sql, str) or not sql.lstrip().upper().startswith("SELECT"):
        raise RuleDefinitionError(f"rule {name} has no SELECT statement", evidence=rule)
    if not actions or len(actions) > MAX_ACTIONS:
        raise RuleDefinitionError(f"rule {name} has {len(actions)} actions (1..10)", rule)
    if error_action is None:
        raise RuleDefinitionError(f"rule {name} has no error action", evidence=rule)
    payload: dict[str, Any] = {
        "Sql": sql,
        "AwsIotSqlVersion": _get(rule, "sql_version") or SQL_VERSION,
        "RuleDisabled": False,
        "Actions": [action_to_cfn(a, resources, role_arn) for a in actions],
        "ErrorAction": action_to_cfn(error_action, resources, role_arn),
    }
    description = _get(rule, "description")
    if description:
        payload["Description"] = str(description)
    return {"RuleName": name, "TopicRulePayload": payload}


def rules_to_cfn(
    rules: Iterable[Any], resources: Mapping[str, str], role_arn: str
) -> list[dict[str, Any]]:
    """All rules; duplicate names are an error (IoT rule names are unique per account/region)."""
    out = [rule_to_cfn(r, resources, role_arn) for r in rules]
    names = [r["RuleName"] for r in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RuleDefinitionError(f"duplicate rule names {dupes}", evidence=names)
    return out


def republish_topic_patterns(rules: Iterable[Any]) -> list[str]:
    """Topics the rules republish to, substitution templates as `*` (for the role's grant)."""
    out: set[str] = set()
    for r in rules:
        for a in [*(_get(r, "actions") or ()), _get(r, "error_action")]:
            if a is not None and _get(a, "type") == "republish":
                topic = str((_get(a, "params") or {}).get("topic", ""))
                out.add(_TEMPLATE_RE.sub("*", topic))
    return sorted(out)
