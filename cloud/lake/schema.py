"""The lake's table: one row per record, the one definition the Glue table and Parquet share.

Partitioned by site and date (`site=<site>/dt=<yyyy-MM-dd>/`), device as a column: Firehose
dynamic partitioning allows 500 active partitions per stream (limits.FIREHOSE_MAX_ACTIVE_
PARTITIONS), so a partition per device stops scaling at a few hundred devices, while sites
stay few. Partition keys live in the path only, as Firehose writes them; the CDK Glue table
declares COLUMNS as columns and PARTITION_KEYS as partition keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from cloud.lake.rows import COLUMNS as SPECS
from cloud.lake.rows import DATE_FORMAT, PARTITION_KEYS, TABLE, partition_date, row  # noqa: F401
from cloud.rules.definitions import STATE_PARTITION_KEY, STATE_TTL_ATTRIBUTE, STATE_TTL_S

STATE_TABLE: Final = "latest_state"

_ARROW: Final = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "boolean": pa.bool_(),
}


@dataclass(frozen=True)
class Column:
    name: str
    glue_type: str
    arrow_type: pa.DataType
    nullable: bool
    comment: str


# The columns of cloud/lake/rows.py with their Arrow types.
COLUMNS: Final = tuple(
    Column(c.name, c.glue_type, _ARROW[c.glue_type], c.nullable, c.comment) for c in SPECS
)

# Where the rows live, relative to the bucket (or the local lake folder). The Firehose prefix
# takes site and dt from each row, read by its jq metadata extraction (partitionKeyFromQuery).
PARTITION_PATH: Final = TABLE + "/site={site}/dt={dt}/"
FIREHOSE_PREFIX: Final = PARTITION_PATH.format(
    site="!{partitionKeyFromQuery:site}", dt="!{partitionKeyFromQuery:dt}"
)
# Where Firehose puts what it could not file: error type, then the day it happened.
FIREHOSE_ERROR_PREFIX: Final = (
    "firehose-errors/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/"
)


def firehose_error_prefix(error_type: str, day: str) -> str:
    """FIREHOSE_ERROR_PREFIX as Firehose expands it (e.g. `processing-failed`, `2026-11-19`)."""
    return FIREHOSE_ERROR_PREFIX.replace("!{firehose:error-output-type}", error_type).replace(
        "!{timestamp:yyyy-MM-dd}", day
    )


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
