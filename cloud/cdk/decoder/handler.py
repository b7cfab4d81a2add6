"""Batch decoder Lambda: Kinesis (uplink batches) -> Firehose DirectPut (JSON rows).

Why not a Firehose transform: a Firehose transform answers each input record with one output
record under a 6 MB response cap, and uplink batches expand about 60x from compressed columnar
to JSON rows, so a single 200 KB Firehose buffer of batches would already overflow it. Here the
decoder reads the stream, and Firehose gets rows packed as concatenated JSON (at most
ROWS_PER_RECORD per record, the cap of Firehose's JSON de-aggregation), splits them, partitions
each row by its own `site` and `dt` (jq) and converts them to Parquet.

A Kinesis record that is not a valid batch is never dropped: its bytes are written to the lake
bucket under `decode-failed/<arrival day>/<sequence number>.flb` and the rejection is logged and
counted; a retry could not make it valid, so the stream moves on.

Runs with only this file, cloud/lake/rows.py, components.core's batch/envelope/clock and the
Lambda runtime's boto3.
Everything but `handler`, `_put` and `_quarantine` is pure.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cloud.lake.rows import partition_date, utc_date
from cloud.lake.rows import row as lake_row
from components.core import batch as uplink_batch
from components.core.envelope import EnvelopeError

ROWS_PER_RECORD = 500  # Firehose de-aggregates at most 500 JSON objects per record
RECORD_MAX_BYTES = 1_000 * 1024  # Firehose record limit (before base64)
PUT_MAX_RECORDS = 500  # PutRecordBatch limits
PUT_MAX_BYTES = 4 * 1024 * 1024
PUT_ATTEMPTS = 6
PUT_BACKOFF_S = 0.2  # doubled after each refused attempt (Firehose throttling is per second)
_SITE_RE = re.compile(r"^[A-Za-z0-9_:-]{1,128}$")


class DecodeError(ValueError):
    """A Kinesis record that is not a valid uplink batch; `.evidence` says what was seen."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


def row(record: Any, site: str, ingest_ms: int) -> dict[str, Any]:
    """One envelope as a lake row (cloud/lake/rows.py, the local lake's very definition) plus
    the partition fields Firehose's jq partitioning reads."""
    return {**lake_row(record, ingest_ms), "site": site, "dt": partition_date(record, ingest_ms)}


def decode(data: bytes) -> tuple[str, list[Any]]:
    """(site, records) of one uplink batch, or DecodeError."""
    try:
        site, records = uplink_batch.decode(data)
    except (uplink_batch.BatchError, EnvelopeError) as exc:  # EnvelopeError: unknown version
        raise DecodeError(f"{type(exc).__name__}: {exc}", evidence=len(data)) from exc
    if not _SITE_RE.match(site):
        raise DecodeError(f"batch site {site!r} is not a valid site id", evidence=site)
    return site, records


def pack(rows: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Rows as Firehose records: newline-separated JSON, <= ROWS_PER_RECORD and RECORD_MAX_BYTES."""
    out: list[bytes] = []
    lines: list[bytes] = []
    size = 0
    for r in rows:
        line = json.dumps(r, separators=(",", ":")).encode() + b"\n"
        if len(line) > RECORD_MAX_BYTES:
            raise DecodeError(f"one row is {len(line)} bytes", evidence=r.get("stream"))
        if lines and (len(lines) == ROWS_PER_RECORD or size + len(line) > RECORD_MAX_BYTES):
            out.append(b"".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(line)
    if lines:
        out.append(b"".join(lines))
    return out


def put_batches(records: Sequence[bytes]) -> list[list[bytes]]:
    """Split Firehose records into PutRecordBatch calls (<= 500 records, <= 4 MiB each)."""
    calls: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for rec in records:
        if current and (len(current) == PUT_MAX_RECORDS or size + len(rec) > PUT_MAX_BYTES):
            calls.append(current)
            current, size = [], 0
        current.append(rec)
        size += len(rec)
    if current:
        calls.append(current)
    return calls


def kinesis_arrival_ms(kinesis: Mapping[str, Any]) -> int:
    return int(float(kinesis["approximateArrivalTimestamp"]) * 1000)


Put = Callable[[list[bytes]], list[bool]]  # one PutRecordBatch call -> per-record success
Quarantine = Callable[[str, bytes], None]  # (object key, original bytes)

QUARANTINE_PREFIX = "decode-failed/"


def quarantine_key(arrival_ms: int, sequence_number: str) -> str:
    return f"{QUARANTINE_PREFIX}{utc_date(arrival_ms)}/{sequence_number}.flb"


def process(
    event: Mapping[str, Any],
    put: Put,
    quarantine: Quarantine,
    sleep: Callable[[float], None] = lambda _s: None,
) -> dict[str, Any]:
    """Decode every Kinesis record, deliver its rows; report records whose rows did not land.

    A record that is not a valid batch is quarantined with its original bytes and skipped. A
    record whose rows Firehose refused after PUT_ATTEMPTS is returned as a batch item failure,
    so Lambda retries it and everything after it: delivery is at-least-once, the lake removes
    duplicates by identity (device, stream, seq).
    """
    failures: list[dict[str, str]] = []
    stats = {"batches": 0, "rows": 0, "rejected": 0}
    for item in event.get("Records", ()):
        kinesis = item["kinesis"]
        seq_no = kinesis["sequenceNumber"]
        arrival_ms = kinesis_arrival_ms(kinesis)
        data = base64.b64decode(kinesis["data"])  # Lambda's own encoding of the record bytes
        try:
            site, records = decode(data)
            records_out = pack(row(r, site, arrival_ms) for r in records)
        except DecodeError as exc:
            stats["rejected"] += 1
            key = quarantine_key(arrival_ms, seq_no)
            print(f"event=batch_rejected sequence={seq_no} key={key} error={exc}")
            quarantine(key, data)
            continue
        if not _deliver(records_out, put, sleep):
            failures.append({"itemIdentifier": seq_no})
            break  # Lambda retries from the first failure on; later records come again
        stats["batches"] += 1
        stats["rows"] += len(records)
    print(
        "event=decoded "
        + " ".join(f"{k}={v}" for k, v in stats.items())
        + f" failed={len(failures)}"
    )
    return {"batchItemFailures": failures}


def _deliver(records: Sequence[bytes], put: Put, sleep: Callable[[float], None]) -> bool:
    for call in put_batches(records):
        pending = list(call)
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                sleep(PUT_BACKOFF_S * 2 ** (attempt - 1))
            ok = put(pending)
            pending = [rec for rec, good in zip(pending, ok, strict=True) if not good]
            if not pending:
                break
        if pending:
            print(f"event=put_failed records={len(pending)}")
            return False
    return True


def _put(records: list[bytes]) -> list[bool]:  # pragma: no cover - needs AWS
    import boto3  # in the Lambda runtime

    client = _put.__dict__.setdefault("client", boto3.client("firehose"))
    answer = client.put_record_batch(
        DeliveryStreamName=os.environ["DELIVERY_STREAM"],
        Records=[{"Data": rec} for rec in records],
    )
    return ["ErrorCode" not in r for r in answer["RequestResponses"]]


def _quarantine(key: str, data: bytes) -> None:  # pragma: no cover - needs AWS
    import boto3  # in the Lambda runtime

    client = _quarantine.__dict__.setdefault("client", boto3.client("s3"))
    client.put_object(Bucket=os.environ["QUARANTINE_BUCKET"], Key=key, Body=data)


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    import time  # the I/O shell's clock; process() itself never reads time

    return process(event, _put, _quarantine, time.sleep)
