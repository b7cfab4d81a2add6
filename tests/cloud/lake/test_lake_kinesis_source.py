"""The lake reads the telemetry stream through the real boto3 Kinesis client (moto)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3
from moto import mock_aws

from cloud.lake.kinesis_source import KinesisSource
from cloud.lake.query import query
from cloud.lake.store import Lake
from components.core import batch
from components.core.clock import ManualClock
from components.core.envelope import Record


@mock_aws
def test_stream_to_lake_resumes_from_checkpoint(
    tmp_path: Path, clock: ManualClock, make_records: Callable[..., list[Record]]
) -> None:
    kinesis = boto3.client("kinesis", region_name="eu-west-1")
    kinesis.create_stream(StreamName="telemetry", ShardCount=2)
    first = batch.encode(make_records(count=10), site="s1")
    other = batch.encode(make_records(device="dev-002", count=5), site="s2")
    for data, key in ((first, "dev-001"), (other, "dev-002"), (first, "dev-001")):
        kinesis.put_record(StreamName="telemetry", Data=data, PartitionKey=key)

    with Lake(tmp_path, clock=clock) as lake:
        results = KinesisSource(lake, kinesis, "telemetry").poll()
        assert sum(r.records for r in results) == 3
        assert query(lake, "SELECT count(*) FROM telemetry")[1] == [(15,)]
        assert lake.stats()["duplicates_dropped"] == 10  # the redelivered batch

    later = batch.encode(make_records(count=5, start_seq=11), site="s1")
    kinesis.put_record(StreamName="telemetry", Data=later, PartitionKey="dev-001")
    with Lake(tmp_path, clock=clock) as lake:  # a restart reads on from the checkpoints
        results = KinesisSource(lake, kinesis, "telemetry").poll()
        assert sum(r.records for r in results) == 1
        assert lake.stats()["duplicates_dropped"] == 10
        assert query(lake, "SELECT count(*), max(seq) FROM telemetry WHERE site = 's1'")[1] == [
            (15, 15)
        ]


@mock_aws
def test_rows_carry_the_streams_arrival_and_rejects_its_sequence_number(
    tmp_path: Path, clock: ManualClock, make_records: Callable[..., list[Record]]
) -> None:
    """What the decoder Lambda would see: Kinesis's own arrival time and sequence numbers."""
    kinesis = boto3.client("kinesis", region_name="eu-west-1")
    kinesis.create_stream(StreamName="telemetry", ShardCount=1)
    good = batch.encode(make_records(count=3), site="s1")
    put = [kinesis.put_record(StreamName="telemetry", Data=d, PartitionKey="k")
           for d in (good, b"not a batch")]  # fmt: skip
    (shard,) = [s["ShardId"] for s in kinesis.list_shards(StreamName="telemetry")["Shards"]]
    start = {"StreamName": "telemetry", "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
    iterator = kinesis.get_shard_iterator(**start)["ShardIterator"]
    arrivals = [int(r["ApproximateArrivalTimestamp"].timestamp() * 1000)
                for r in kinesis.get_records(ShardIterator=iterator)["Records"]]  # fmt: skip
    with Lake(tmp_path, clock=clock) as lake:
        KinesisSource(lake, kinesis, "telemetry").poll()
        assert query(lake, "SELECT DISTINCT ingest_ms FROM telemetry")[1] == [(arrivals[0],)]
    (kept,) = (tmp_path / "decode-failed").rglob("*.flb")
    assert kept.name == f"{put[1]['SequenceNumber']}.flb"
    assert kept.read_bytes() == b"not a batch"
