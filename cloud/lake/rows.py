"""The lake's row: one record flattened for Parquet, and the day it is filed under.

Pure Python with no third-party import, so the same definition serves the local lake
(cloud/lake/schema.py adds the Arrow types) and the CDK stack's decoder Lambda, whose package
holds nothing but the standard library and the modules it imports from here and
components/core. Partitioned by site and day; `device` stays a column (Firehose allows 500
active partitions per stream: a partition per device would stop scaling at a few hundred).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any, Final

TABLE: Final = "telemetry"
PARTITION_KEYS: Final = (("site", "string"), ("dt", "string"))
DATE_FORMAT: Final = "%Y-%m-%d"  # `dt` values; Athena projection format yyyy-MM-dd


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # lower case: Glue column names must be
    glue_type: str  # Hive/Glue type as the Glue table declares it
    nullable: bool
    comment: str


COLUMNS: Final = (
    ColumnSpec("device", "string", False, "thing name"),
    ColumnSpec("stream", "string", False, "<kind>/<chip>@<address>"),
    ColumnSpec("seq", "bigint", False, "gapless per (device, stream)"),
    ColumnSpec("cls", "string", False, "raw, event, health, aggregate, alert"),
    ColumnSpec("wall_ms", "bigint", False, "device wall clock when written"),
    ColumnSpec("wall_corrected_ms", "bigint", True, "recovered wall time, if unsynced"),
    ColumnSpec("event_ms", "bigint", False, "best wall time of the event"),
    ColumnSpec("clock_synced", "boolean", False, "device clock was synced"),
    ColumnSpec("schema_version", "int", False, "envelope schema version"),
    ColumnSpec("payload", "string", False, "the record's payload as JSON"),
    ColumnSpec("ingest_ms", "bigint", False, "when the lake received it"),
)

_DAY_MS: Final = 86_400_000
_YEAR_10000_MS: Final = 253_402_300_800_000  # the first instant no calendar date can hold
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_json: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@functools.lru_cache(maxsize=4096)
def _day(days_since_epoch: int) -> str:
    return (_EPOCH + dt.timedelta(days=days_since_epoch)).strftime(DATE_FORMAT)


def utc_date(wall_ms: int) -> str:
    """The UTC day of an epoch-ms time, as `dt` values are written."""
    return _day(wall_ms // _DAY_MS)


def partition_date(record: Any, ingest_ms: int) -> str:
    """The `dt` of a record: its event time when the device clock was trustworthy (synced or
    corrected after a later sync), otherwise the arrival time (a Pi without RTC may believe it
    is 1970). A time no calendar holds (a corrupt clock claiming year 300000) also files under
    the arrival day rather than failing the delivery."""
    trusted = record.clock_synced or record.wall_corrected_ms is not None
    when_ms = record.event_wall_ms
    if not trusted or not 0 <= when_ms < _YEAR_10000_MS:
        when_ms = ingest_ms
    return utc_date(when_ms)


def row(record: Any, ingest_ms: int) -> dict[str, Any]:
    """A record (components/core/envelope.Record) as the table's columns, in order."""
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
