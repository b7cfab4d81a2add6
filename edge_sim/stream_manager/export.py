"""Kinesis export of a message stream: batching, limits, retries, durable progress.

One worker thread per (stream, KinesisConfig). It sends messages in sequence order and moves
its cursor only over the contiguous prefix the sink accepted, so nothing is lost or reordered;
the cursor is written to disk after every accepted call, so a restart resends at most the call
in flight (at-least-once). While the sink fails it retries forever with exponential backoff
(capped at 5 minutes, like the real service).

Timing is read from the injected clock: batch intervals against ingest times on the wall
clock, backoff on the monotonic clock (a wall-clock step must not stall retries). With a
virtual clock, time passes as fast as the simulation advances it. With the system clock,
`speed` divides both, so tests and fast demos need not wait a real minute per batch (the real
service refuses intervals below 60 s; the definition still has to respect that).

Limits (components.core.limits): at most KINESIS_PUT_RECORDS_MAX records and
KINESIS_PUT_RECORDS_MAX_BYTES per call; a message larger than KINESIS_RECORD_MAX_BYTES can
never be exported, so it is skipped, counted and named in the export status.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from components.core.clock import Clock
from components.core.limits import (
    KINESIS_PUT_RECORDS_MAX,
    KINESIS_PUT_RECORDS_MAX_BYTES,
    KINESIS_RECORD_MAX_BYTES,
)

from .definition import DEFAULT_KINESIS_BATCH_SIZE, KinesisExport
from .kinesis import Entry, KinesisSink, PutResult, SinkError, record_bytes
from .store import MessageStream, StoredMessage, file_key, write_json_atomic

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0
IDLE_POLL_S = 1.0  # wait for an append at most this long before re-checking TTL and clock
BUSY_POLL_S = 0.05  # re-check an interval-bound batch this often (the clock may be virtual)
_KEY_NAMESPACE = uuid.UUID("5f0c3d2e-8a41-4c55-9d8e-1e0b7a6c4f21")


def partition_key(stream: str, seq: int) -> str:
    """A unique, random-looking key per message (Stream Manager uses a random UUID); derived
    from identity so a resend lands on the same shard."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{stream}/{seq}"))


def is_eligible(
    export: KinesisExport, pending: int, oldest_pending_ms: int, now_ms: int, speed: float
) -> bool:
    """Whether a batch should go now (the rules documented on KinesisConfig)."""
    if pending <= 0:
        return False
    size = export.batch_size or DEFAULT_KINESIS_BATCH_SIZE
    if pending >= size:
        return True
    if export.batch_interval_ms is None:
        # Neither set: eligible at once. Only batch_size set: wait for a full batch.
        return export.batch_size is None
    return now_ms - oldest_pending_ms >= export.batch_interval_ms / speed


@dataclass
class BatchItem:
    seq: int
    entry: Entry | None  # None: skipped (can never be exported)
    bytes_from_stream: int
    skip_reason: str | None = None


def plan_batch(stream: str, messages: list[StoredMessage]) -> list[BatchItem]:
    items = []
    for m in messages:
        entry = (partition_key(stream, m.seq), m.payload)
        size = record_bytes(entry)
        if size > KINESIS_RECORD_MAX_BYTES:
            reason = f"message {m.seq} is {size} bytes, Kinesis limit {KINESIS_RECORD_MAX_BYTES}"
            items.append(BatchItem(m.seq, None, len(m.payload), reason))
        else:
            items.append(BatchItem(m.seq, entry, len(m.payload)))
    return items


def first_call(items: list[BatchItem]) -> list[BatchItem]:
    """The longest prefix of `items` that fits one PutRecords call (skips ride along)."""
    out: list[BatchItem] = []
    count = total = 0
    for item in items:
        if item.entry is not None:
            size = record_bytes(item.entry)
            if count + 1 > KINESIS_PUT_RECORDS_MAX or total + size > KINESIS_PUT_RECORDS_MAX_BYTES:
                break
            count += 1
            total += size
        out.append(item)
    return out


@dataclass
class Outcome:
    last_seq: int | None  # last sequence number the cursor may move to
    delivered: int
    delivered_bytes: int
    skipped: list[str]
    error: str | None


def settle(items: list[BatchItem], results: list[PutResult]) -> Outcome:
    """Walk the call in order; stop at the first record the sink refused."""
    outcome = Outcome(None, 0, 0, [], None)
    it = iter(results)
    for item in items:
        if item.entry is None:
            outcome.skipped.append(item.skip_reason or "skipped")
            outcome.last_seq = item.seq
            continue
        result = next(it, None)
        if result is None or not result.ok:
            code = result.error_code if result else "MissingResult"
            msg = result.error_message if result else "sink returned fewer results than records"
            outcome.error = f"record {item.seq} failed: {code}: {msg}"
            break
        outcome.delivered += 1
        outcome.delivered_bytes += item.bytes_from_stream
        outcome.last_seq = item.seq
    return outcome


@dataclass
class Progress:
    last_exported_seq: int
    exported_messages: int = 0
    exported_bytes: int = 0
    skipped_messages: int = 0
    skipped_evicted: int = 0
    last_export_time_ms: int = 0
    error_message: str | None = None
    last_skip_reason: str | None = None
    start_sequence_number: int = 0


class KinesisExporter:
    """Exports one stream to one Kinesis stream on a background thread."""

    def __init__(
        self,
        stream: MessageStream,
        export: KinesisExport,
        sink: KinesisSink,
        clock: Clock,
        speed: float = 1.0,
        progress: Progress | None = None,
    ) -> None:
        """`progress` carries the cursor over an UpdateMessageStream (Memory streams have no
        file to reload it from)."""
        self.stream = stream
        self.export = export
        self._sink = sink
        self._clock = clock
        self._speed = speed
        self._stop = False
        self.failures = 0
        self.calls = 0
        self._path = (
            stream.directory / "exports" / f"{file_key(export.identifier)}.json"
            if stream.directory is not None
            else None
        )
        self._retry_at_ns = 0
        self.progress = self._load_progress(progress)
        self._thread = threading.Thread(
            target=self._run, name=f"kinesis-export-{export.identifier}", daemon=True
        )

    def start(self) -> None:
        if not self.export.disabled:
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with self.stream.appended:
            self._stop = True
            self.stream.appended.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def status(self) -> dict[str, Any]:
        p = self.progress
        out: dict[str, Any] = {
            "exportConfigIdentifier": self.export.identifier,
            "lastExportedSequenceNumber": p.last_exported_seq,
            "lastExportTime": p.last_export_time_ms,
            "exportedBytesFromStream": p.exported_bytes,
            "exportedMessagesCount": p.exported_messages,
        }
        if p.error_message:
            out["errorMessage"] = p.error_message
        return out

    # ---- worker --------------------------------------------------------------------------

    def _load_progress(self, carried: Progress | None) -> Progress:
        start = self.export.start_sequence_number
        saved = carried
        if saved is None and self._path is not None and self._path.exists():
            saved = Progress(**json.loads(self._path.read_text()))
        if saved is not None and saved.start_sequence_number == start:
            return saved
        # New export, or its start sequence number was changed by an update: start there.
        return Progress(last_exported_seq=start - 1, start_sequence_number=start)

    def _save_progress(self) -> None:
        if self._path is not None:
            write_json_atomic(self._path, asdict(self.progress))

    def _wait(self, seconds: float) -> None:
        with self.stream.appended:
            if not self._stop:
                self.stream.appended.wait(seconds)

    def _run(self) -> None:
        backoff_s = BACKOFF_FIRST_S
        while not self._stop and not self.stream.closed:
            if self._clock.monotonic_ns() < self._retry_at_ns:
                self._wait(BUSY_POLL_S)
                continue
            try:
                sent = self._once()
            except SinkError as exc:
                sent = None
                self._failed(str(exc) or type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - a sink bug must not end the export
                sent = None
                log.exception("event=export_error stream=%s", self.stream.name)
                self._failed(f"{type(exc).__name__}: {exc}")
            if sent is None:
                self._retry_at_ns = self._clock.monotonic_ns() + int(backoff_s / self._speed * 1e9)
                backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
            elif sent:
                backoff_s = BACKOFF_FIRST_S
            # sent == 0: nothing eligible; _once already waited

    def _failed(self, message: str) -> None:
        self.failures += 1
        self.progress.error_message = message
        self.progress.last_export_time_ms = self._clock.wall_ms()
        log.warning(
            "event=export_failed stream=%s export=%s failures=%d error=%r",
            self.stream.name,
            self.export.identifier,
            self.failures,
            message,
        )

    def _once(self) -> int | None:
        """One step: 0 if nothing was due (after waiting), the records moved past, or None if
        the sink refused a record (the caller backs off)."""
        s = self.stream
        s.expire()
        nxt = self.progress.last_exported_seq + 1
        oldest = s.oldest_seq
        if oldest is not None and nxt < oldest:
            lost = oldest - nxt
            self.progress.skipped_evicted += lost
            self.progress.last_exported_seq = oldest - 1
            self._save_progress()
            log.warning(
                "event=export_gap stream=%s export=%s evicted_before_export=%d",
                s.name,
                self.export.identifier,
                lost,
            )
            nxt = oldest
        pending = s.count_from(nxt)
        first_ms = s.first_ingest_ms_from(nxt)
        if first_ms is None or not is_eligible(
            self.export, pending, first_ms, self._clock.wall_ms(), self._speed
        ):
            self._wait(BUSY_POLL_S if pending else IDLE_POLL_S)
            return 0
        size = min(self.export.batch_size or DEFAULT_KINESIS_BATCH_SIZE, KINESIS_PUT_RECORDS_MAX)
        items = first_call(plan_batch(s.name, s.read(nxt, size)))
        entries = [i.entry for i in items if i.entry is not None]
        results: list[PutResult] = []
        if entries:
            results = self._sink.put_records(self.export.kinesis_stream_name, entries)
        self.calls += 1
        outcome = settle(items, results)
        p = self.progress
        if outcome.last_seq is not None:
            p.last_exported_seq = outcome.last_seq
        p.exported_messages += outcome.delivered
        p.exported_bytes += outcome.delivered_bytes
        p.skipped_messages += len(outcome.skipped)
        p.last_export_time_ms = self._clock.wall_ms()
        p.error_message = outcome.error
        if outcome.skipped:
            p.last_skip_reason = outcome.skipped[-1]
        self._save_progress()
        for reason in outcome.skipped:
            log.warning("event=export_skip stream=%s reason=%r", s.name, reason)
        if outcome.error is not None:
            self.failures += 1
            return None
        return outcome.delivered + len(outcome.skipped)
