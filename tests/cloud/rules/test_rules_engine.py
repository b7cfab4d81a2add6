"""The local rules engine runs floorline's rules on real uplink payloads."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from cloud.iot_sql import SqlSyntaxError
from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine, UnknownActionType
from cloud.rules.handlers import (
    ActionCall,
    ActionFailed,
    MemoryBroker,
    MemoryBucket,
    MemoryStream,
    MemoryTable,
    MemoryTopic,
)
from components.core import batch, topics
from components.core.envelope import Record

RecordFactory = Callable[..., list[Record]]

NOW_MS = 1_795_000_123_456
UUID = "0f0e0d0c-0b0a-4908-8706-050403020100"


class Cloud:
    """The in-memory destinations of every action type."""

    def __init__(self) -> None:
        self.stream = MemoryStream()
        self.table = MemoryTable(d.STATE_PARTITION_KEY)
        self.sns = MemoryTopic()
        self.broker = MemoryBroker()
        self.errors = MemoryBucket()

    def handlers(self) -> dict:
        return {
            d.KINESIS: self.stream,
            d.DYNAMODB_V2: self.table,
            d.SNS: self.sns,
            d.REPUBLISH: self.broker,
            d.S3: self.errors,
        }

    def engine(self) -> RulesEngine:
        return RulesEngine(d.RULES, self.handlers(), newuuid=lambda: UUID)


@pytest.fixture
def cloud() -> Cloud:
    return Cloud()


def alert_record(device: str = "dev-001", cls: str = "alert") -> Record:
    return Record(
        device=device,
        stream="vib/adxl345@0x53",
        seq=42,
        cls=cls,
        mono_ns=5_000_000,
        wall_ms=NOW_MS - 200,
        clock_synced=True,
        payload={"detector": "rms", "value_g": 1.73, "threshold_g": 1.2},
    )


@pytest.mark.parametrize("kind", [topics.AGGREGATE, topics.EVENT, topics.HEALTH, topics.RAW])
def test_binary_batches_reach_the_stream_byte_for_byte(
    cloud: Cloud, make_records: RecordFactory, kind: str
) -> None:
    """SELECT * on a binary payload passes it through unchanged (guide, binary payloads)."""
    records = make_records(count=50)
    data = batch.encode(records, site="plant-7")
    engine = cloud.engine()
    runs = engine.publish(
        topics.device_topic("plant-7", "dev-001", kind),
        data,
        clientid="dev-001",
        timestamp_ms=NOW_MS,
    )
    assert any(run.fired for run in runs)
    assert cloud.stream.records == [("dev-001", data)]
    site, decoded = batch.decode(cloud.stream.records[0][1])
    assert site == "plant-7"
    # The batch format keeps mono_ns only for records written before the clock synced.
    assert [(r.identity, r.wall_ms, r.payload) for r in decoded] == [
        (r.identity, r.wall_ms, r.payload) for r in records
    ]


def test_health_batch_updates_latest_state(cloud: Cloud, make_records: RecordFactory) -> None:
    data = batch.encode(make_records(cls="health", stream="sys/health", count=3), site="plant-7")
    cloud.engine().publish(
        topics.device_topic("plant-7", "dev-001", topics.HEALTH),
        data,
        clientid="dev-001",
        timestamp_ms=NOW_MS,
    )
    assert cloud.table.items == {
        "dev-001": {
            "device": "dev-001",
            "site": "plant-7",
            "last_seen_ms": NOW_MS,
            "client_id": "dev-001",
            "expires_at_s": NOW_MS // 1000 + d.STATE_TTL_S,
        }
    }


def test_alert_goes_to_sns_and_the_site_ops_topic(cloud: Cloud) -> None:
    alert = alert_record()
    source = topics.device_topic("plant-7", "dev-001", topics.ALERT)
    payload = json.dumps(alert.to_dict()).encode()
    runs = cloud.engine().publish(source, payload, clientid="dev-001", timestamp_ms=NOW_MS)
    (run,) = runs
    assert run.fired and all(result.ok for result in run.actions)
    expected = {**alert.to_dict(), "site": "plant-7", "received_ms": NOW_MS}
    (sns_message,) = cloud.sns.messages
    assert json.loads(sns_message) == expected
    ((topic, republished, qos),) = cloud.broker.published
    assert topic == topics.ops_topic("plant-7", topics.ALERT)
    assert qos == 1 and json.loads(republished) == expected
    ((key, streamed),) = cloud.stream.records
    assert key == "dev-001" and json.loads(streamed) == expected


def test_non_alert_on_alert_topic_runs_no_action(cloud: Cloud) -> None:
    engine = cloud.engine()
    payload = json.dumps(alert_record(cls="event").to_dict()).encode()
    (run,) = engine.publish(
        topics.device_topic("plant-7", "dev-001", topics.ALERT), payload, timestamp_ms=NOW_MS
    )
    assert not run.fired and run.actions == []
    assert cloud.sns.messages == [] and cloud.broker.published == []
    assert engine.stats["floorline_alerts.where_not_true"] == 1


def test_binary_payload_on_alert_topic_runs_no_action(cloud: Cloud) -> None:
    """cls is Undefined in a non-JSON payload, so WHERE is not true."""
    (run,) = cloud.engine().publish(
        topics.device_topic("plant-7", "dev-001", topics.ALERT), b"\x00\xff", timestamp_ms=NOW_MS
    )
    assert not run.fired and cloud.sns.messages == []


def test_failed_action_sends_one_aws_format_error_to_the_bucket(cloud: Cloud) -> None:
    def refuse(call: ActionCall) -> None:
        raise ActionFailed("topic does not exist", resource="floorline-alerts")

    handlers = {**cloud.handlers(), d.SNS: refuse}
    engine = RulesEngine(d.RULES, handlers, newuuid=lambda: UUID)
    payload = json.dumps(alert_record().to_dict()).encode()
    (run,) = engine.publish(
        topics.device_topic("plant-7", "dev-001", topics.ALERT),
        payload,
        clientid="dev-001",
        timestamp_ms=NOW_MS,
        traceid="trace-1",
    )
    assert [result.ok for result in run.actions] == [False, True, True]  # the others ran
    assert run.error_action is not None and run.error_action.ok
    (key,) = cloud.errors.objects
    assert key == f"rule-errors/floorline_alerts/2026-11-18/dev-001-{NOW_MS}-{UUID}.json"
    error = json.loads(cloud.errors.objects[key])
    assert error["ruleName"] == "floorline_alerts"
    assert error["topic"] == "floorline/plant-7/dev-001/alert"
    assert error["clientId"] == "dev-001" and error["cloudwatchTraceId"] == "trace-1"
    assert base64.b64decode(error["base64OriginalPayload"]) == payload
    assert error["failures"] == [
        {
            "failedAction": "SnsAction",
            "failedResource": d.ALERT_TOPIC,
            "errorMessage": "topic does not exist (resource floorline-alerts)",
        }
    ]
    assert engine.stats["floorline_alerts.actions_failed"] == 1
    assert engine.stats["floorline_alerts.error_action_ok"] == 1


def test_unexpected_handler_exception_is_recorded_not_raised(cloud: Cloud) -> None:
    def broken(call: ActionCall) -> None:
        raise ConnectionResetError("peer went away")

    handlers = {**cloud.handlers(), d.KINESIS: broken}
    engine = RulesEngine(d.RULES, handlers, newuuid=lambda: UUID)
    (run,) = engine.publish(
        topics.device_topic("plant-7", "dev-001", topics.RAW), b"FLB\x01\x00{}", timestamp_ms=0
    )
    assert run.actions[0].error == "ConnectionResetError: peer went away"
    assert len(cloud.errors.objects) == 1


def test_evaluation_error_is_counted_and_runs_nothing(cloud: Cloud) -> None:
    """`SELECT *, ...` cannot add keys to a binary payload (guide: use encode(*, 'base64'))."""
    rule = d.TopicRule(
        name="merge_binary",
        description="",
        sql="SELECT *, topic(2) AS site FROM 'floorline/+/+/raw'",
        actions=(d.Action(d.KINESIS, d.TELEMETRY_STREAM, {"partitionKey": "k"}),),
        error_action=d.Action(d.S3, d.ERROR_BUCKET, {"key": "e"}),
    )
    engine = RulesEngine([rule], cloud.handlers())
    (run,) = engine.publish("floorline/s/dev/raw", b"\x00binary", timestamp_ms=0)
    assert not run.fired and "BinaryPayloadError" in run.evaluation_error
    assert cloud.stream.records == [] and cloud.errors.objects == {}
    assert engine.stats["merge_binary.evaluation_errors"] == 1


def test_basic_ingest_runs_the_named_rule_only(cloud: Cloud) -> None:
    payload = json.dumps(alert_record().to_dict()).encode()
    runs = cloud.engine().publish(
        "$aws/rules/floorline_alerts/floorline/plant-9/dev-001/alert", payload, timestamp_ms=1
    )
    assert [run.rule_name for run in runs] == ["floorline_alerts"]
    assert cloud.broker.published[0][0] == topics.ops_topic("plant-9", topics.ALERT)


def test_unmatched_topic_is_counted(cloud: Cloud) -> None:
    engine = cloud.engine()
    assert engine.publish("elsewhere/x", b"{}", timestamp_ms=0) == []
    assert engine.stats["messages_unmatched"] == 1


def test_missing_handler_and_bad_sql_fail_at_construction(cloud: Cloud) -> None:
    handlers = cloud.handlers()
    del handlers[d.SNS]
    with pytest.raises(UnknownActionType, match="sns"):
        RulesEngine(d.RULES, handlers)
    bad = d.TopicRule("bad", "", "SELECT FROM 'x'", (), d.Action(d.S3, d.ERROR_BUCKET))
    with pytest.raises(SqlSyntaxError):
        RulesEngine([bad], cloud.handlers())
