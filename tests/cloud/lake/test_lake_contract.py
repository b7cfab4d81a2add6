"""Contract: uplink batches pass through the local rules and the lake and come out as rows
whose columns and types are the ones the Glue table declares (cloud.lake.schema)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow.parquet as pq

from cloud.lake import schema
from cloud.lake.query import DUCKDB_TYPES, query
from cloud.lake.store import Lake
from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine
from cloud.rules.handlers import MemoryBroker, MemoryBucket, MemoryStream, MemoryTable, MemoryTopic
from components.core import batch
from components.core.envelope import Record
from components.uplink.plan import plan


def test_uplink_to_rules_to_lake_matches_the_glue_schema(
    lake: Lake, make_records: Callable[..., list[Record]]
) -> None:
    """The uplink's own planner makes the MQTT messages (batches per class, alerts as JSON),
    a gateway forwards a LAN device's records too; every record ends up as exactly one row."""
    stream, table = MemoryStream(), MemoryTable(d.STATE_PARTITION_KEY)
    engine = RulesEngine(
        d.RULES,
        {d.KINESIS: stream, d.DYNAMODB_V2: table, d.SNS: MemoryTopic(),
         d.REPUBLISH: MemoryBroker(), d.S3: MemoryBucket()},
    )  # fmt: skip
    records = [
        *make_records(cls="alert", stream="vib/adxl345@0x53", count=3),
        *make_records(cls="event", stream="rfid/rdm6300@ttyS0", count=5),
        *make_records(cls="aggregate", count=30),
        *make_records(cls="health", stream="sys/health", count=2),
        *make_records(cls="raw", stream="vib/adxl345@0x53", count=100, start_seq=4),
        *make_records(device="lan-plc-7", cls="raw", stream="http/plc@lan", count=7),
    ]
    messages = plan(records, list(range(1, len(records) + 1)), site="plant-7",
                    thing="dev-001", max_bytes=4096)  # fmt: skip
    assert not any(m.oversize for m in messages)
    for message in messages:
        engine.publish(message.topic, message.payload, clientid="dev-001",
                       timestamp_ms=lake.clock.wall_ms())  # fmt: skip
    result = lake.ingest(data for _, data in stream.records)
    assert result.quarantined == 0 and result.duplicates == 0
    assert result.rows_written == len(records) == 147
    rows = query(lake, "SELECT device, stream, seq, cls FROM telemetry ORDER BY ALL")[1]
    assert rows == sorted((r.device, r.stream, r.seq, r.cls) for r in records)

    described = query(lake, "SELECT column_name, column_type FROM (DESCRIBE telemetry)")[1]
    expected = [(c.name, DUCKDB_TYPES[c.glue_type]) for c in schema.COLUMNS]
    expected += [(name, DUCKDB_TYPES[t]) for name, t in schema.PARTITION_KEYS]
    assert described == expected

    for path in (lake.root / "telemetry").rglob("*.parquet"):
        assert pq.read_schema(path).remove_metadata() == schema.ARROW_SCHEMA

    # The lake's latest state has exactly the item shape the device-state rule writes.
    assert set(lake.latest_state()["dev-001"]) == set(table.items["dev-001"])
    assert [c["name"] for c in schema.glue_columns()] == [c.name for c in schema.COLUMNS]


def test_local_layout_is_the_projection_template(
    lake: Lake, make_records: Callable[..., list[Record]]
) -> None:
    lake.ingest([batch.encode(make_records(count=2), site="plant-7")])
    (path,) = (lake.root / "telemetry").rglob("*.parquet")
    template = schema.glue_table_parameters("s3://lake-bucket/")["storage.location.template"]
    expected = template.replace("s3://lake-bucket/", "").replace("${site}", "plant-7")
    assert path.parent.relative_to(lake.root).as_posix() + "/" == expected.replace(
        "${dt}", "2026-11-18"
    )
    assert schema.FIREHOSE_PREFIX == (
        "telemetry/site=!{partitionKeyFromQuery:site}/dt=!{partitionKeyFromQuery:dt}/"
    )
