"""The lake's decode-and-route step: telemetry-stream records in, Firehose rows out.

One function, `process`, for both paths: the decoder Lambda in AWS runs it on the Kinesis event
Lambda hands it (cloud/cdk/decoder/handler.py, packaged with this module into the asset), and
the local lake runs it on the same event shape built from what it is fed (cloud/lake/store.py).
So the local lake cannot accept what the cloud rejects.

The message kinds that reach the telemetry stream, and only these:

- BATCH: an uplink batch (components/core/batch.py bytes), as the `floorline_batches_<kind>`
  rules forward them (aggregates, events, health, raw) and as Stream Manager exports raw
  telemetry to Kinesis. The site is inside the batch.
- ALERT: one alert envelope as JSON, as the `floorline_alerts` rule forwards it: the device's
  envelope plus `site` (topic(2)) and `received_ms` added by the rule's SELECT.

Each becomes rows of the lake table (cloud/lake/rows.py) plus `site` and `dt`, the partition
keys Firehose's jq extraction reads. A record of neither kind, or one that does not decode, is
quarantined with its bytes and the reason; it is never dropped and never retried (a retry could
not make it valid). Pure: I/O comes in as the `put`, `quarantine` and `log` callables.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from cloud.lake.rows import partition_date, utc_date
from cloud.lake.rows import row as lake_row
from components.core import batch as uplink_batch
from components.core import topics
from components.core.envelope import EnvelopeError, Record, from_dict

BATCH: Final = "batch"
ALERT: Final = "alert"
KINDS: Final = (BATCH, ALERT)
ALERT_CLASS: Final = "alert"  # the floorline_alerts rule's WHERE: only these are forwarded

ROWS_PER_RECORD: Final = 500  # Firehose de-aggregates at most 500 JSON objects per record
RECORD_MAX_BYTES: Final = 1_000 * 1024  # Firehose record limit (before base64)
PUT_MAX_RECORDS: Final = 500  # PutRecordBatch limits
PUT_MAX_BYTES: Final = 4 * 1024 * 1024
PUT_ATTEMPTS: Final = 6
PUT_BACKOFF_S: Final = 0.2  # doubled after each refused attempt (Firehose throttling is per second)
QUARANTINE_PREFIX: Final = "decode-failed/"
# One encoder for every row: json.dumps with separators builds a new encoder per call.
_encode_row: Final = json.JSONEncoder(separators=(",", ":")).encode


class DecodeError(ValueError):
    """A stream record of no known kind, or one that does not decode; `.evidence` says what
    was seen."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


def kind_of(data: bytes) -> str:
    """Which message kind a stream record claims to be (by its first bytes)."""
    if uplink_batch.is_batch(data):
        return BATCH
    if data[:1] == b"{":
        return ALERT
    raise DecodeError("neither an uplink batch (magic) nor a JSON alert", evidence=data[:16])


def _alert(data: bytes) -> tuple[Any, list[Record]]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DecodeError(f"alert is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("alert is not a JSON object", evidence=type(doc).__name__)
    try:
        record = from_dict(doc)
    except OverflowError as exc:  # int() of a JSON Infinity
        raise DecodeError(f"alert has a non-finite number: {exc}") from None
    if record.cls != ALERT_CLASS:
        raise DecodeError(f"JSON record of class {record.cls!r}: only alerts travel as JSON")
    return doc.get("site"), [record]


def decode(data: bytes) -> tuple[str, list[Record]]:
    """(site, records) of one telemetry-stream record, or DecodeError."""
    try:
        site, records = uplink_batch.decode(data) if kind_of(data) == BATCH else _alert(data)
    except (uplink_batch.BatchError, EnvelopeError) as exc:  # EnvelopeError: unknown version
        raise DecodeError(f"{type(exc).__name__}: {exc}", evidence=len(data)) from exc
    if not topics.is_segment(site):
        raise DecodeError(f"site {site!r} is not a valid site id", evidence=site)
    return site, records


def row(record: Record, site: str, ingest_ms: int) -> dict[str, Any]:
    """One envelope as a lake row (cloud/lake/rows.py) plus the partition fields Firehose's
    jq partitioning reads."""
    return {**lake_row(record, ingest_ms), "site": site, "dt": partition_date(record, ingest_ms)}


def pack(rows: Iterable[Mapping[str, Any]]) -> list[bytes]:
    """Rows as Firehose records: newline-separated JSON, <= ROWS_PER_RECORD and RECORD_MAX_BYTES."""
    out: list[bytes] = []
    lines: list[bytes] = []
    size = 0
    for r in rows:
        line = _encode_row(r).encode() + b"\n"
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


def quarantine_key(arrival_ms: int, sequence_number: str) -> str:
    return f"{QUARANTINE_PREFIX}{utc_date(arrival_ms)}/{sequence_number}.flb"


def lambda_event(records: Iterable[tuple[str, str, int, bytes]], stream_arn: str) -> dict[str, Any]:
    """The event Lambda's Kinesis event source hands a function, for (sequence number,
    partition key, arrival ms, data) records: the shape of the example event in the Lambda
    developer guide, "Using AWS Lambda with Amazon Kinesis" (data base64, arrival in epoch
    seconds with a fraction)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode("ascii"),
                    "approximateArrivalTimestamp": arrival_ms / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{seq}",
                "eventName": "aws:kinesis:record",
                "eventSourceARN": stream_arn,
            }
            for seq, key, arrival_ms, data in records
        ]
    }


Put = Callable[[list[bytes]], list[bool]]  # one PutRecordBatch call -> per-record success
Quarantine = Callable[[str, bytes, str], None]  # (object key, original bytes, reason)


def process(
    event: Mapping[str, Any],
    put: Put,
    quarantine: Quarantine,
    sleep: Callable[[float], None] = lambda _s: None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Decode every Kinesis record, deliver its rows; report records whose rows did not land.

    A record that does not decode is quarantined with its original bytes and skipped. A record
    whose rows Firehose refused after PUT_ATTEMPTS is returned as a batch item failure, so
    Lambda retries it and everything after it: delivery is at-least-once, and a redelivered
    record yields the same rows (same arrival time), removed by identity (device, stream, seq).
    """
    failures: list[dict[str, str]] = []
    stats = {"batches": 0, "alerts": 0, "rows": 0, "rejected": 0}
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
            log(f"event=record_rejected sequence={seq_no} key={key} error={exc}")
            quarantine(key, data, str(exc))
            continue
        if not _deliver(records_out, put, sleep, log):
            failures.append({"itemIdentifier": seq_no})
            break  # Lambda retries from the first failure on; later records come again
        stats["alerts" if records and records[0].cls == ALERT_CLASS and data[:1] == b"{"
              else "batches"] += 1  # fmt: skip
        stats["rows"] += len(records)
    log("event=decoded " + " ".join(f"{k}={v}" for k, v in stats.items())
        + f" failed={len(failures)}")  # fmt: skip
    return {"batchItemFailures": failures}


def _deliver(
    records: Sequence[bytes], put: Put, sleep: Callable[[float], None], log: Callable[[str], None]
) -> bool:
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
            log(f"event=put_failed records={len(pending)}")
            return False
    return True
