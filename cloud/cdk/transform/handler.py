"""Firehose transform: one uplink batch (a Kinesis record) -> JSON rows + partition keys.

Runs in AWS Lambda with only this file and the components.core modules it imports. Pure apart
from `handler` (no clock: the arrival time comes with each Firehose record).

For every input record Firehose gets exactly one answer:
- Ok: the batch's rows as concatenated JSON objects (Firehose's Parquet conversion reads
  several JSON documents per record), with `site` and `date` partition keys;
- ProcessingFailed: the batch could not be decoded. Firehose writes the original bytes under
  the error prefix (`processing-failed/`), so nothing is lost, and the reason is logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from components.core import batch as uplink_batch
from components.core.clock import BUILD_EPOCH_MS
from components.core.envelope import EnvelopeError

_SITE_RE = re.compile(r"^[A-Za-z0-9_:-]{1,128}$")


class TransformError(ValueError):
    """A Kinesis record that is not a valid uplink batch; `.evidence` says what was seen."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


def utc_date(wall_ms: int) -> str:
    return datetime.fromtimestamp(wall_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def row(record: Any) -> dict[str, Any]:
    """One envelope as a lake row (columns of the Glue table; payload as JSON text)."""
    return {
        "device": record.device,
        "stream": record.stream,
        "seq": record.seq,
        "cls": record.cls,
        "mono_ns": record.mono_ns,
        "wall_ms": record.wall_ms,
        "clock_synced": record.clock_synced,
        "wall_corrected_ms": record.wall_corrected_ms,
        "schema": record.schema,
        "payload": json.dumps(dict(record.payload), separators=(",", ":"), sort_keys=True),
    }


def partition_date(records: list[Any], arrival_ms: int) -> str:
    """The batch's day: its first trustworthy wall time, else the Firehose arrival time.

    A batch is one Firehose record and so lands in one partition: the day of its first record
    with a trustworthy time (clock synced, or corrected after the sync). A Pi without RTC
    before NTP would otherwise file rows under 1970, outside the table's projection range.
    """
    for record in records:
        trusted = record.clock_synced or record.wall_corrected_ms is not None
        if trusted and record.event_wall_ms >= BUILD_EPOCH_MS:
            return utc_date(record.event_wall_ms)
    return utc_date(arrival_ms)


def decode(data: bytes) -> tuple[str, list[Any]]:
    """(site, records) of one uplink batch."""
    try:
        site, records = uplink_batch.decode(data)
    except (uplink_batch.BatchError, EnvelopeError) as exc:  # EnvelopeError: unknown version
        raise TransformError(f"{type(exc).__name__}: {exc}", evidence=len(data)) from exc
    if not isinstance(site, str) or not _SITE_RE.match(site):
        raise TransformError(f"batch site {site!r} is not a valid site id", evidence=site)
    if not records:
        raise TransformError("batch holds no records", evidence=len(data))
    return site, records


def transform_record(fh_record: Mapping[str, Any]) -> dict[str, Any]:
    """The Firehose answer for one record."""
    record_id = fh_record["recordId"]
    try:
        data = base64.b64decode(fh_record["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        return _failed(fh_record, TransformError(f"data is not base64: {exc}"))
    try:
        site, records = decode(data)
    except TransformError as exc:
        return _failed(fh_record, exc)
    body = "".join(json.dumps(row(r), separators=(",", ":")) + "\n" for r in records)
    arrival_ms = int(fh_record.get("approximateArrivalTimestamp", 0))
    return {
        "recordId": record_id,
        "result": "Ok",
        "data": base64.b64encode(body.encode()).decode("ascii"),
        "metadata": {"partitionKeys": {"site": site, "date": partition_date(records, arrival_ms)}},
    }


def _failed(fh_record: Mapping[str, Any], exc: TransformError) -> dict[str, Any]:
    """Hand the original bytes back: Firehose stores them under processing-failed/."""
    record_id = fh_record["recordId"]
    print(f"event=batch_rejected record_id={record_id} error={exc}")  # one CloudWatch line
    return {"recordId": record_id, "result": "ProcessingFailed", "data": fh_record["data"]}


def transform(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    out = [transform_record(r) for r in records]
    failed = sum(1 for r in out if r["result"] != "Ok")
    print(f"event=transform records={len(out)} failed={failed}")
    return {"records": out}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return transform(event.get("records", ()))
