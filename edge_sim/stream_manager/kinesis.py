"""Where Kinesis exports go: a sink interface and a local Kinesis (in memory or in a directory).

`LocalDirKinesis` keeps what a lake consumer needs: per Kinesis stream, one JSON-lines file
per accepted PutRecords call, named by its first sequence number and written atomically
(temp file + rename), so a reader polling the directory never sees half a batch::

    <root>/<kinesis stream>/<first seq:020d>.jsonl
        {"sequenceNumber": "…", "partitionKey": "…", "data": "<base64>", "arrivalMs": …}

`read_records(root, stream, after_seq)` is the consumer's side. Sequence numbers run on
without gaps from one file to the next, which is how it knows a listing taken while files
were being renamed in has missed one: it stops before the gap and reads on at its next poll.
"""

from __future__ import annotations

import base64
import bisect
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from components.core.clock import Clock, SystemClock
from components.core.limits import (
    KINESIS_PUT_RECORDS_MAX,
    KINESIS_PUT_RECORDS_MAX_BYTES,
    KINESIS_RECORD_MAX_BYTES,
)

Entry = tuple[str, bytes]  # (partition key, data)
_STREAM_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")  # Kinesis stream-name characters
_FILE_NAME = re.compile(r"^\d{20}\.jsonl$")  # <first sequence number>.jsonl


class SinkError(Exception):
    """The whole PutRecords call failed; nothing was stored. Retryable."""


class SinkUnavailable(SinkError):
    """The destination cannot be reached (a network outage)."""


class InvalidPutRequest(SinkError):
    """A request Kinesis would refuse as a whole (too many records, too large, bad name)."""


class CorruptRecordFile(ValueError):
    """A stored file that is not what LocalDirKinesis writes; `.evidence` names the line."""

    def __init__(self, message: str, evidence: str) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True)
class PutResult:
    """One record's outcome, in request order (like PutRecords' Records array)."""

    ok: bool
    sequence_number: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class KinesisSink(Protocol):
    def put_records(self, stream_name: str, records: list[Entry]) -> list[PutResult]: ...


def record_bytes(entry: Entry) -> int:
    """Bytes a record counts against the Kinesis limits: data plus partition key."""
    return len(entry[1]) + len(entry[0].encode())


def check_put_request(stream_name: str, records: list[Entry]) -> None:
    """Refuse what Kinesis PutRecords refuses as a whole."""
    if not _STREAM_NAME_RE.match(stream_name):
        raise InvalidPutRequest(f"stream name {stream_name!r} is not a Kinesis stream name")
    if not 1 <= len(records) <= KINESIS_PUT_RECORDS_MAX:
        raise InvalidPutRequest(f"{len(records)} records, limit 1..{KINESIS_PUT_RECORDS_MAX}")
    total = 0
    for i, entry in enumerate(records):
        size = record_bytes(entry)
        if size > KINESIS_RECORD_MAX_BYTES:
            raise InvalidPutRequest(f"record {i} is {size} bytes, limit {KINESIS_RECORD_MAX_BYTES}")
        if not 1 <= len(entry[0]) <= 256:
            raise InvalidPutRequest(f"record {i} partition key must be 1-256 characters")
        total += size
    if total > KINESIS_PUT_RECORDS_MAX_BYTES:
        raise InvalidPutRequest(f"request is {total} bytes, limit {KINESIS_PUT_RECORDS_MAX_BYTES}")


class LocalKinesis:
    """Kinesis on this machine. `available = False` plays an outage (every call fails)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._next_seq: dict[str, int] = {}
        self.available = True
        self.calls = 0
        self.failed_calls = 0

    def put_records(self, stream_name: str, records: list[Entry]) -> list[PutResult]:
        with self._lock:
            self.calls += 1
            if not self.available:
                self.failed_calls += 1
                raise SinkUnavailable(f"kinesis endpoint unreachable (stream {stream_name})")
            check_put_request(stream_name, records)
            first = self._next_seq.get(stream_name)
            if first is None:
                first = self._load_next_seq(stream_name)
            arrival_ms = self._clock.wall_ms()
            rows = [
                {
                    "sequenceNumber": str(first + i),
                    "partitionKey": key,
                    "data": base64.b64encode(data).decode("ascii"),
                    "arrivalMs": arrival_ms,
                }
                for i, (key, data) in enumerate(records)
            ]
            self._store(stream_name, first, rows)
            self._next_seq[stream_name] = first + len(records)
            return [PutResult(True, sequence_number=str(r["sequenceNumber"])) for r in rows]

    def _load_next_seq(self, stream_name: str) -> int:
        return 1

    def _store(self, stream_name: str, first_seq: int, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class MemoryKinesis(LocalKinesis):
    """Records kept in memory: `records(stream)` returns [(partition key, data), ...]."""

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self._rows: dict[str, list[dict[str, Any]]] = {}

    def _store(self, stream_name: str, first_seq: int, rows: list[dict[str, Any]]) -> None:
        self._rows.setdefault(stream_name, []).extend(rows)

    def records(self, stream_name: str) -> list[Entry]:
        with self._lock:
            return [
                (r["partitionKey"], base64.b64decode(r["data"]))
                for r in self._rows.get(stream_name, [])
            ]


class LocalDirKinesis(LocalKinesis):
    """Records persisted as JSON-lines files under `root` (see the module doc)."""

    def __init__(self, root: Path, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _load_next_seq(self, stream_name: str) -> int:
        last = 0
        for _seq, row in _iter_rows(self.root / stream_name, 0, newest_file_only=True):
            last = max(last, int(row["sequenceNumber"]))
        return last + 1

    def _store(self, stream_name: str, first_seq: int, rows: list[dict[str, Any]]) -> None:
        directory = self.root / stream_name
        directory.mkdir(exist_ok=True)
        path = directory / f"{first_seq:020d}.jsonl"
        tmp = directory / f".{first_seq:020d}.jsonl.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def _iter_rows(
    directory: Path, after_seq: int, newest_file_only: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        names = sorted(n for n in os.listdir(directory) if _FILE_NAME.match(n))
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing exported to this stream yet
    # Names are zero-padded first sequence numbers, so they sort by number, and a file holds
    # one call's records numbered up from its name: the files before the last one starting at
    # or before after_seq + 1 were read whole already. (A consumer polling a long run would
    # otherwise parse the whole history on every poll.)
    first = max(bisect.bisect_right(names, f"{after_seq + 1:020d}.jsonl") - 1, 0)
    if newest_file_only:
        first = max(len(names) - 1, 0)
    expected = None if newest_file_only else after_seq + 1
    for name in names[first:]:
        path = directory / name
        if expected is not None and int(name[:20]) > expected:
            # Numbers run on from file to file, so a gap is a file this listing missed: a
            # directory listed while files are renamed into it may show a later file and
            # not an earlier one. Stop here; the next poll lists it.
            return
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    seq = int(row["sequenceNumber"])
                    base64.b64decode(row["data"], validate=True)
                    str(row["partitionKey"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise CorruptRecordFile(
                        f"{path.name} line {number} is not a stored record: {exc}",
                        evidence=f"{path}:{number}",
                    ) from exc
                if seq > after_seq:
                    yield seq, row
                if expected is not None:
                    expected = max(expected, seq + 1)


def read_records(
    root: Path, stream_name: str, after_seq: int = 0
) -> Iterator[tuple[int, str, bytes]]:
    """(Kinesis sequence number, partition key, data) of every record after `after_seq`."""
    for seq, row in _iter_rows(Path(root) / stream_name, after_seq):
        yield seq, row["partitionKey"], base64.b64decode(row["data"])
