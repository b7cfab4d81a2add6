"""The lake's table: one row per record, the one definition the Glue table and Parquet share.

Partitioned by site and date (`site=<site>/dt=<yyyy-MM-dd>/`), device as a column: Firehose
dynamic partitioning allows 500 active partitions per stream (limits.FIREHOSE_MAX_ACTIVE_
PARTITIONS), so a partition per device stops scaling at a few hundred devices, while sites
stay few. Partition keys live in the path only, as Firehose writes them; the CDK Glue table
declares COLUMNS as columns and PARTITION_KEYS as partition keys.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from cloud.rules.definitions import STATE_PARTITION_KEY, STATE_TTL_ATTRIBUTE, STATE_TTL_S
from components.core.envelope import Record

TABLE: Final = "telemetry"
STATE_TABLE: Final = "latest_state"


@dataclass(frozen=True)
class Column:
    name: str  # lower case: Glue column names must be
    glue_type: str  # Hive/Glue type as the Glue table declares it
    arrow_type: pa.DataType
    nullable: bool
    comment: str


COLUMNS: Final = (
    Column("device", "string", pa.string(), False, "thing name"),
    Column("stream", "string", pa.string(), False, "<kind>/<chip>@<address>"),
    Column("seq", "bigint", pa.int64(), False, "gapless per (device, stream)"),
    Column("cls", "string", pa.string(), False, "raw, event, health, aggregate, alert"),
    Column("wall_ms", "bigint", pa.int64(), False, "device wall clock when written"),
    Column("wall_corrected_ms", "bigint", pa.int64(), True, "recovered wall time, if unsynced"),
    Column("event_ms", "bigint", pa.int64(), False, "best wall time of the event"),
    Column("clock_synced", "boolean", pa.bool_(), False, "device clock was synced"),
    Column("schema_version", "int", pa.int32(), False, "envelope schema version"),
    Column("payload", "string", pa.string(), False, "the record's payload as JSON"),
    Column("ingest_ms", "bigint", pa.int64(), False, "when the lake received it"),
)
PARTITION_KEYS: Final = (("site", "string"), ("dt", "string"))
DATE_FORMAT: Final = "%Y-%m-%d"  # `dt` values; Athena projection format yyyy-MM-dd

# Where the rows live, relative to the bucket (or the local lake folder). The Firehose prefix
# takes site and dt from the transform that decodes the binary batches (partitionKeyFromLambda).
PARTITION_PATH: Final = TABLE + "/site={site}/dt={dt}/"
FIREHOSE_PREFIX: Final = PARTITION_PATH.format(
    site="!{partitionKeyFromLambda:site}", dt="!{partitionKeyFromLambda:dt}"
)
FIREHOSE_ERROR_PREFIX: Final = "firehose-errors/!{firehose:error-output-type}/"


def glue_table_parameters(location: str) -> dict[str, str]:
    """Glue table parameters with Athena partition projection over `location` (s3://bucket/).

    `site` is injected (queries give it with `=`), `dt` is a date range up to today.
    """
    return {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.site.type": "injected",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2024-01-01,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": location.rstrip("/")
        + "/"
        + PARTITION_PATH.format(site="${site}", dt="${dt}"),
    }


ARROW_SCHEMA: Final = pa.schema(
    [pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in COLUMNS]
)


def glue_columns() -> list[dict[str, str]]:
    """Glue `StorageDescriptor.Columns` (name, type, comment)."""
    return [{"name": c.name, "type": c.glue_type, "comment": c.comment} for c in COLUMNS]


def glue_partition_keys() -> list[dict[str, str]]:
    return [{"name": name, "type": glue_type} for name, glue_type in PARTITION_KEYS]


def partition_date(record: Record, ingest_ms: int) -> str:
    """The `dt` of a record: its event time when the device clock was trustworthy (synced or
    corrected), otherwise the arrival time (a Pi without RTC may believe it is 1970)."""
    trusted = record.clock_synced or record.wall_corrected_ms is not None
    when_ms = record.event_wall_ms if trusted else ingest_ms
    return _day(when_ms // _DAY_MS)


_DAY_MS: Final = 86_400_000


@functools.lru_cache(maxsize=4096)
def _day(days_since_epoch: int) -> str:
    return (_EPOCH + dt.timedelta(days=days_since_epoch)).strftime(DATE_FORMAT)


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_json: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def row(record: Record, ingest_ms: int) -> dict[str, Any]:
    return {
        "device": record.device,
        "stream": record.stream,
        "seq": record.seq,
        "cls": record.cls,
        "wall_ms": record.wall_ms,
        "wall_corrected_ms": record.wall_corrected_ms,
        "event_ms": record.event_wall_ms,
        "clock_synced": record.clock_synced,
        "schema_version": record.schema,
        "payload": _json(dict(record.payload)),
        "ingest_ms": ingest_ms,
    }


def state_item(device: str, site: str, last_seen_ms: int) -> dict[str, Any]:
    """A latest-state item in the shape the `floorline_device_state` rule writes to DynamoDB
    (Greengrass connects with the thing name as client id, hence client_id = device)."""
    return {
        STATE_PARTITION_KEY: device,
        "site": site,
        "last_seen_ms": last_seen_ms,
        "client_id": device,
        STATE_TTL_ATTRIBUTE: last_seen_ms // 1000 + STATE_TTL_S,
    }
