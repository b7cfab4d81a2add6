"""The lake table's columns and partition keys, as the Glue table declares them.

The rows are envelopes (components/core/envelope.py) flattened for Parquet: the identity and
timing fields as typed columns, the sensor-specific payload as JSON text. `site` and `dt` are
partitions (S3 prefixes), not columns: Firehose writes only the columns into the Parquet files.
`device` stays a column on purpose: Firehose allows 500 active partitions per stream, so a
per-device partition would stop scaling at a few hundred devices.

One schema module owns this list for the whole cloud side: `cloud/lake/schema.py`. Until it is
on the main line the same names and types are spelled here (a test compares them with the lake
schema whenever it is importable); switching is one import in place of the tuples below.
"""

from __future__ import annotations

from typing import Final

# (name, Glue/Hive type, comment)
Column = tuple[str, str, str]

COLUMNS: Final[tuple[Column, ...]] = (
    ("device", "string", "thing name"),
    ("stream", "string", "<kind>/<chip>@<address>"),
    ("seq", "bigint", "gapless per (device, stream)"),
    ("cls", "string", "raw, event, health, aggregate, alert"),
    ("wall_ms", "bigint", "device wall clock when written"),
    ("wall_corrected_ms", "bigint", "recovered wall time, if unsynced"),
    ("event_ms", "bigint", "best wall time of the event"),
    ("clock_synced", "boolean", "device clock was synced"),
    ("schema_version", "int", "envelope schema version"),
    ("payload", "string", "the record's payload as JSON"),
    ("ingest_ms", "bigint", "when the lake received it"),
)

PARTITION_KEYS: Final[tuple[tuple[str, str], ...]] = (("site", "string"), ("dt", "string"))
TABLE: Final = "telemetry"
