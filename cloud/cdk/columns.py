"""The lake table's columns and partition keys, as the Glue table declares them.

The rows are envelopes (components/core/envelope.py) flattened for Parquet: the identity and
timing fields as typed columns, the sensor-specific payload as JSON text. `site` and `dt` are
partitions (S3 prefixes), not columns: Firehose writes only the columns into the Parquet files.
`device` stays a column on purpose: Firehose allows 500 active partitions per stream, so a
per-device partition would stop scaling at a few hundred devices.

The one definition is `cloud/lake/rows.py` (pure, so the stack and its decoder Lambda can use
it without pyarrow); this module gives it the (name, type, comment) shape the stack builds the
Glue table from.
"""

from __future__ import annotations

from typing import Final

from cloud.lake import rows

# (name, Glue/Hive type, comment)
Column = tuple[str, str, str]

COLUMNS: Final[tuple[Column, ...]] = tuple((c.name, c.glue_type, c.comment) for c in rows.COLUMNS)
PARTITION_KEYS: Final[tuple[tuple[str, str], ...]] = rows.PARTITION_KEYS
TABLE: Final = rows.TABLE
