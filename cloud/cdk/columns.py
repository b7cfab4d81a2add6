"""The lake table's columns and partition keys, as the Glue table declares them.

The rows are envelopes (components/core/envelope.py) flattened for Parquet: the identity and
timing fields as typed columns, the sensor-specific payload as JSON text. `site` and `date` are
partitions (S3 prefixes), not columns: Firehose writes only the columns into the Parquet files.
`device` stays a column on purpose: Firehose allows 500 active partitions per stream, so a
per-device partition would stop scaling at a few hundred devices.

One schema module owns this list for the whole cloud side. Until `cloud/lake/schema.py` is on
the main line the list lives here; switching is one import in place of the two tuples below.
"""

from __future__ import annotations

from typing import Final

# (name, Glue/Hive type, comment)
Column = tuple[str, str, str]

COLUMNS: Final[tuple[Column, ...]] = (
    ("device", "string", "thing name of the core device"),
    ("stream", "string", "<kind>/<chip>@<address> or <kind>/<reader>@<port>"),
    ("seq", "bigint", "gapless per (device, stream); identity is (device, stream, seq)"),
    ("cls", "string", "record class: raw, event, health, aggregate, alert"),
    ("mono_ns", "bigint", "device monotonic clock, ns"),
    ("wall_ms", "bigint", "device wall clock, epoch ms"),
    ("clock_synced", "boolean", "wall clock was NTP-synced when the record was made"),
    ("wall_corrected_ms", "bigint", "wall time corrected after a later clock sync, epoch ms"),
    ("schema", "int", "envelope schema version"),
    ("payload", "string", "record payload as JSON text"),
)

PARTITION_KEYS: Final[tuple[Column, ...]] = (
    ("site", "string", "site id, from the topic and the thing's site attribute"),
    ("date", "string", "UTC date yyyy-MM-dd of the record's wall clock"),
)
