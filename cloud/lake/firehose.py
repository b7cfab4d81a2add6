"""What the delivery stream does with the records the decoder puts, for the local lake.

The stack's Firehose (cloud/cdk/ingest.py) runs, in order: JSON de-aggregation (a record of
concatenated JSON objects becomes one row each), jq metadata extraction of `site` and `dt`
(the S3 prefix), then Parquet conversion with the Glue table's schema, which keeps only the
table's columns: partition keys and unknown fields are not written into the files (Firehose
reads the column list from the Glue table; "unknown JSON fields are dropped").
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from cloud.lake.rows import COLUMNS, PARTITION_KEYS

_COLUMN_NAMES: Final = tuple(c.name for c in COLUMNS)
_KEY_NAMES: Final = tuple(name for name, _ in PARTITION_KEYS)
_columns_of: Final = operator.itemgetter(*_COLUMN_NAMES)


class ProcessingFailed(ValueError):
    """A record Firehose could not process (its `processing-failed` error output)."""


@dataclass(frozen=True)
class DeliveredRow:
    keys: tuple[str, ...]  # partition key values, in PARTITION_KEYS order
    columns: dict[str, Any]  # the Parquet row: the table's columns only


def deaggregate(record: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of one record (JSON de-aggregation: objects back to back, any
    whitespace between them)."""
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProcessingFailed(f"record is not UTF-8: {exc}") from None
    # Fast path: one object per line, as the decoder packs them (a JSON text holds no raw
    # newline, so joining the lines with commas gives one array); else object by object.
    lines = text.strip()
    if lines.startswith("{"):
        try:
            objs = json.loads("[" + lines.replace("\n", ",") + "]")
        except ValueError:
            pass
        else:
            if all(isinstance(obj, dict) for obj in objs):
                yield from objs
                return
    decoder = json.JSONDecoder()
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return
        try:
            obj, at = decoder.raw_decode(text, at)
        except ValueError as exc:
            raise ProcessingFailed(f"record is not concatenated JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ProcessingFailed(f"a JSON {type(obj).__name__} where an object belongs")
        yield obj


def deliver(record: bytes) -> list[DeliveredRow]:
    """The rows one Firehose record turns into, or ProcessingFailed for the whole record."""
    return [delivered(obj) for obj in deaggregate(record)]


def delivered(obj: dict[str, Any]) -> DeliveredRow:
    """One de-aggregated object as Firehose files it: partition keys (jq), then columns."""
    found = tuple(obj.get(name) for name in _KEY_NAMES)
    keys = tuple(k for k in found if isinstance(k, str) and k)
    if len(keys) != len(found):
        raise ProcessingFailed(f"partition keys {dict(zip(_KEY_NAMES, found, strict=True))}"
                               " missing from a row")  # fmt: skip
    try:
        columns = dict(zip(_COLUMN_NAMES, _columns_of(obj), strict=True))
    except KeyError:  # a column missing from the row: Firehose writes it as null
        columns = {name: obj.get(name) for name in _COLUMN_NAMES}
    return DeliveredRow(keys, columns)
