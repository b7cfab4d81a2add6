"""floorline's AWS IoT topic rules, as plain data: the one source for the CDK stack and the
local rules engine.

A rule is its SQL (AWS IoT SQL 2016-03-23), its actions and an error action. An action names
its type, the logical resource it writes to (`target`, bound to a real stream, table, topic or
bucket by whoever deploys the rule) and its remaining parameters under their AWS IoT API field
names (camelCase, as in CreateTopicRule); string parameters may hold `${expression}`
substitution templates.

Every FROM clause comes from components.core.topics, so the device side and the cloud side
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from components.core import topics

SQL_VERSION: Final = "2016-03-23"

# Action types, named as in the AWS IoT API (TopicRulePayload.actions[]).
KINESIS: Final = "kinesis"
DYNAMODB_V2: Final = "dynamoDBv2"
SNS: Final = "sns"
REPUBLISH: Final = "republish"
S3: Final = "s3"
ACTION_TYPES: Final = (KINESIS, DYNAMODB_V2, SNS, REPUBLISH, S3)

# Logical resources the actions write to; the CDK stack maps each to the resource it creates.
TELEMETRY_STREAM: Final = "telemetry_stream"  # Kinesis data stream (-> Firehose -> lake)
STATE_TABLE: Final = "state_table"  # DynamoDB latest device state
ALERT_TOPIC: Final = "alert_topic"  # SNS topic for people
ERROR_BUCKET: Final = "error_bucket"  # S3 bucket for rule errors
TARGETS: Final = (TELEMETRY_STREAM, STATE_TABLE, ALERT_TOPIC, ERROR_BUCKET)

# Which action field a target binds to, and whether it takes the resource's name or ARN.
TARGET_FIELD: Final = {
    KINESIS: ("streamName", "name"),
    DYNAMODB_V2: ("putItem.tableName", "name"),
    SNS: ("targetArn", "arn"),
    S3: ("bucketName", "name"),
}

# The latest-state item (DynamoDB): partition key and TTL attribute, shared with the lake.
STATE_PARTITION_KEY: Final = "device"
STATE_TTL_ATTRIBUTE: Final = "expires_at_s"
STATE_TTL_S: Final = 90 * 24 * 3600

_SITE = f"topic({topics.TOPIC_SITE_INDEX})"
_THING = f"topic({topics.TOPIC_THING_INDEX})"
# ops_topic() validates its segments; build it with a stand-in site and swap in the template.
_SITE_STANDIN = "SITE"


@dataclass(frozen=True)
class Action:
    type: str
    target: str | None = None  # a TARGETS name; None for republish (MQTT needs no resource)
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicRule:
    name: str  # AWS rule names: letters, digits, underscore
    description: str
    sql: str
    actions: tuple[Action, ...]
    error_action: Action
    sql_version: str = SQL_VERSION


def _error_action(rule_name: str) -> Action:
    key = (
        f"rule-errors/{rule_name}/${{parse_time('yyyy-MM-dd', timestamp(), 'UTC')}}/"
        f"${{{_THING}}}-${{timestamp()}}-${{newuuid()}}.json"
    )
    return Action(S3, ERROR_BUCKET, {"key": key})


def _batch_rule(kind: str) -> TopicRule:
    name = f"floorline_batches_{kind}"
    return TopicRule(
        name=name,
        description=(
            f"Uplink batches of kind '{kind}' (binary, compressed) to the telemetry stream as "
            "they came; the batch carries device, site and every record's identity."
        ),
        sql=f"SELECT * FROM '{topics.cloud_filter(kind)}'",
        actions=(Action(KINESIS, TELEMETRY_STREAM, {"partitionKey": f"${{{_THING}}}"}),),
        error_action=_error_action(name),
    )


def _state_rule() -> TopicRule:
    name = "floorline_device_state"
    sql = (
        f"SELECT {_THING} AS {STATE_PARTITION_KEY}, {_SITE} AS site, "
        f"timestamp() AS last_seen_ms, clientid() AS client_id, "
        f"timestamp() / 1000 + {STATE_TTL_S} AS {STATE_TTL_ATTRIBUTE} "
        f"FROM '{topics.cloud_filter(topics.HEALTH)}'"
    )
    return TopicRule(
        name=name,
        description="Latest state per device (last health report) into the state table.",
        sql=sql,
        actions=(Action(DYNAMODB_V2, STATE_TABLE),),
        error_action=_error_action(name),
    )


def _alert_rule() -> TopicRule:
    name = "floorline_alerts"
    fanout = topics.ops_topic(_SITE_STANDIN, topics.ALERT).replace(
        f"/{_SITE_STANDIN}/", f"/${{{_SITE}}}/"
    )
    sql = (
        f"SELECT *, {_SITE} AS site, timestamp() AS received_ms "
        f"FROM '{topics.cloud_filter(topics.ALERT)}' WHERE cls = 'alert'"
    )
    return TopicRule(
        name=name,
        description="Alerts (one JSON envelope each) to people over SNS, to the site's "
        "operator topic over MQTT, and to the telemetry stream so the lake keeps them too.",
        sql=sql,
        actions=(
            Action(SNS, ALERT_TOPIC, {"messageFormat": "RAW"}),
            Action(REPUBLISH, None, {"topic": fanout, "qos": 1}),
            Action(KINESIS, TELEMETRY_STREAM, {"partitionKey": f"${{{_THING}}}"}),
        ),
        error_action=_error_action(name),
    )


RULES: Final[tuple[TopicRule, ...]] = (
    *(_batch_rule(kind) for kind in (topics.AGGREGATE, topics.EVENT, topics.HEALTH, topics.RAW)),
    _state_rule(),
    _alert_rule(),
)


def rule(name: str) -> TopicRule:
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no rule named {name!r}")


def topic_rule_payload(
    definition: TopicRule, resources: Mapping[str, str], role_arn: str
) -> dict[str, object]:
    """The AWS `TopicRulePayload` as the CreateTopicRule API takes it (camelCase fields).

    `resources` maps each target to the name or ARN its action field takes (TARGET_FIELD).
    """

    def action(spec: Action) -> dict[str, object]:
        body: dict[str, object] = {**spec.params, "roleArn": role_arn}
        if spec.target is not None:
            field_path, _ = TARGET_FIELD[spec.type]
            outer, _, inner = field_path.partition(".")
            body[outer] = {inner: resources[spec.target]} if inner else resources[spec.target]
        return {spec.type: body}

    return {
        "sql": definition.sql,
        "description": definition.description,
        "ruleDisabled": False,
        "awsIotSqlVersion": definition.sql_version,
        "actions": [action(spec) for spec in definition.actions],
        "errorAction": action(definition.error_action),
    }
