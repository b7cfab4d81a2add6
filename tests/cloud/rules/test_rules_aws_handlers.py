"""The same rules through the real boto3 clients (against moto): stream, table, bucket."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
from moto import mock_aws

from cloud.rules import definitions as d
from cloud.rules.aws_handlers import AwsHandlers
from cloud.rules.engine import RulesEngine
from components.core import batch, topics
from components.core.envelope import Record

REGION = "eu-west-1"
NOW_MS = 1_795_000_123_456


@mock_aws
def test_rules_write_to_aws_services(make_records: Callable[..., list[Record]]) -> None:
    session = boto3.Session(region_name=REGION)
    kinesis = session.client("kinesis")
    kinesis.create_stream(StreamName="telemetry", ShardCount=1)
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": d.STATE_PARTITION_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": d.STATE_PARTITION_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3 = session.client("s3")
    s3.create_bucket(Bucket="errors", CreateBucketConfiguration={"LocationConstraint": REGION})
    resources = {
        d.TELEMETRY_STREAM: "telemetry",
        d.STATE_TABLE: "state",
        # No such SNS topic: the action fails and the error action must land in S3.
        d.ALERT_TOPIC: f"arn:aws:sns:{REGION}:123456789012:missing",
        d.ERROR_BUCKET: "errors",
    }
    engine = RulesEngine(d.RULES, AwsHandlers(session, resources).handlers())

    data = batch.encode(make_records(cls="health", stream="sys/health", count=5), site="s1")
    health_topic = topics.device_topic("s1", "dev-001", topics.HEALTH)
    engine.publish(health_topic, data, clientid="dev-001", timestamp_ms=NOW_MS)

    shard = kinesis.describe_stream(StreamName="telemetry")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="telemetry", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    (record,) = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert record["Data"] == data and record["PartitionKey"] == "dev-001"

    item = session.resource("dynamodb").Table("state").get_item(Key={"device": "dev-001"})
    assert item["Item"]["site"] == "s1" and item["Item"]["last_seen_ms"] == NOW_MS

    alert = make_records(cls="alert", stream="vib/adxl345@0x53", count=1)[0]
    alert_topic = topics.device_topic("s1", "dev-001", topics.ALERT)
    (run,) = engine.publish(
        alert_topic,
        json.dumps(alert.to_dict()).encode(),
        clientid="dev-001",
        timestamp_ms=NOW_MS,
    )
    assert [result.ok for result in run.actions] == [False, True, True]  # only SNS refused
    assert "NotFound" in run.actions[0].error
    (obj,) = s3.list_objects_v2(Bucket="errors")["Contents"]
    assert obj["Key"].startswith("rule-errors/floorline_alerts/")
    error = json.loads(s3.get_object(Bucket="errors", Key=obj["Key"])["Body"].read())
    assert error["failures"][0]["failedAction"] == "SnsAction"
