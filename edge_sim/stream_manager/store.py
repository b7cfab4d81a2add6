"""Message streams: sequence numbers, max size with a strategy on full, TTL, File or Memory.

A File stream lives in its own directory::

    definition.json      the definition (wire form; the directory is named file_key(name))
    state.json           oldest retained and next sequence number (written atomically)
    segments/<first seq>.seg   records: seq u64 | ingest_ms i64 | length u32 | crc32 u32 | payload
    exports/             export progress (see export.py)

Retention is per message (the oldest message goes first); a segment file is deleted once none
of its messages is retained. A torn record at the end of a segment (power cut mid-write) is cut
off on load and counted. A Memory stream keeps the same index with payloads in RAM and never
touches the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.core.clock import Clock

from .definition import Persistence, StrategyOnFull, StreamDefinition
from .protocol import RequestError, Status

log = logging.getLogger(__name__)

RECORD_HEADER = struct.Struct(">QqII")  # seq, ingest_ms, length, crc32(payload)


class StreamFull(RequestError):
    """An append to a full RejectNewData stream."""

    def __init__(self, name: str, size: int, max_size: int, record_bytes: int) -> None:
        super().__init__(
            Status.INVALID_REQUEST,
            f"stream {name!r} is full ({size} of {max_size} bytes, message needs "
            f"{record_bytes}) and its strategy is RejectNewData",
        )


def file_key(name: str) -> str:
    """A file name for a stream or export name (up to 255 characters of `\\w ,.-`, which
    may not fit a file name as is): a digest; the real name is inside the file."""
    return hashlib.sha256(name.encode()).hexdigest()[:40]


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    seq: int
    ingest_ms: int
    payload: bytes

    @property
    def stored_bytes(self) -> int:
        return RECORD_HEADER.size + len(self.payload)


@dataclass(slots=True)
class _Entry:
    seq: int
    ingest_ms: int
    length: int
    segment: int  # first seq of its segment file (File) or -1 (Memory)
    offset: int
    payload: bytes | None  # Memory streams only

    @property
    def stored_bytes(self) -> int:
        return RECORD_HEADER.size + self.length


class MessageStream:
    """One stream. Thread-safe: the server appends while exporters read."""

    def __init__(self, definition: StreamDefinition, directory: Path | None, clock: Clock) -> None:
        self.definition = definition
        self.directory = directory if definition.persistence == Persistence.FILE else None
        self._clock = clock
        self._lock = threading.RLock()
        self.appended = threading.Condition(self._lock)
        self._entries: deque[_Entry] = deque()
        self._next_seq = 0
        self._bytes = 0
        self._segment_bytes: dict[int, int] = {}  # File: segment -> bytes written
        self._writer: Any = None
        self._writer_segment = -1
        self._readers: dict[int, int] = {}  # segment -> fd
        self.stats = {
            "appended": 0,
            "evicted_full": 0,
            "expired_ttl": 0,
            "rejected_full": 0,
            "torn_records_truncated": 0,
        }
        self.closed = False
        if self.directory is not None:
            (self.directory / "segments").mkdir(parents=True, exist_ok=True)
            (self.directory / "exports").mkdir(exist_ok=True)
            write_json_atomic(self.directory / "definition.json", definition.to_wire())
            self._load()

    # ---- queries -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def total_bytes(self) -> int:
        return self._bytes

    @property
    def oldest_seq(self) -> int | None:
        with self._lock:
            return self._entries[0].seq if self._entries else None

    @property
    def newest_seq(self) -> int | None:
        with self._lock:
            return self._entries[-1].seq if self._entries else None

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def count_from(self, start: int) -> int:
        with self._lock:
            if not self._entries:
                return 0
            first = max(start, self._entries[0].seq)
            return max(0, self._entries[-1].seq - first + 1)

    def first_ingest_ms_from(self, start: int) -> int | None:
        with self._lock:
            e = self._entry(max(start, self._entries[0].seq)) if self._entries else None
            return e.ingest_ms if e else None

    def read(self, start: int, max_count: int, max_bytes: int | None = None) -> list[StoredMessage]:
        """Up to max_count messages from `start` (or the oldest retained, if later)."""
        with self._lock:
            out: list[StoredMessage] = []
            if not self._entries:
                return out
            seq = max(start, self._entries[0].seq)
            total = 0
            while len(out) < max_count:
                e = self._entry(seq)
                if e is None:
                    break
                if max_bytes is not None and out and total + e.length > max_bytes:
                    break
                out.append(StoredMessage(e.seq, e.ingest_ms, self._payload(e)))
                total += e.length
                seq += 1
            return out

    def storage_status(self) -> dict[str, int]:
        with self._lock:
            status = {"totalBytes": self._bytes}
            if self._entries:
                status["oldestSequenceNumber"] = self._entries[0].seq
                status["newestSequenceNumber"] = self._entries[-1].seq
            return status

    # ---- changes -------------------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        d = self.definition
        need = RECORD_HEADER.size + len(payload)
        with self._lock:
            self._expire_locked()
            if need > d.max_size_bytes:
                raise RequestError(
                    Status.REQUEST_PAYLOAD_TOO_LARGE,
                    f"message of {len(payload)} bytes can never fit stream {d.name!r} "
                    f"(maxSize {d.max_size_bytes})",
                )
            if self._bytes + need > d.max_size_bytes:
                if d.strategy_on_full == StrategyOnFull.REJECT_NEW_DATA:
                    self.stats["rejected_full"] += 1
                    raise StreamFull(d.name, self._bytes, d.max_size_bytes, need)
                evicted = 0
                while self._bytes + need > d.max_size_bytes:
                    self._drop_oldest_locked()
                    evicted += 1
                self.stats["evicted_full"] += evicted
                self._retention_changed_locked()
            seq = self._next_seq
            now_ms = self._clock.wall_ms()
            entry = self._write_locked(seq, now_ms, payload)
            self._entries.append(entry)
            self._bytes += need
            self._next_seq = seq + 1
            self.stats["appended"] += 1
            self.appended.notify_all()
            return seq

    def skip_to(self, next_seq: int) -> None:
        """Never hand out a sequence number below `next_seq` (one already exported, whose
        record a power cut took from the tail of the segment)."""
        with self._lock:
            if next_seq > self._next_seq:
                log.warning(
                    "event=sequence_skip stream=%s from=%d to=%d",
                    self.name,
                    self._next_seq,
                    next_seq,
                )
                self._next_seq = next_seq
                self._retention_changed_locked()

    def expire(self) -> int:
        """Drop messages older than the TTL; returns how many."""
        with self._lock:
            return self._expire_locked()

    def update(self, definition: StreamDefinition) -> None:
        with self._lock:
            self.definition = definition
            if self.directory is not None:
                write_json_atomic(self.directory / "definition.json", definition.to_wire())
            self._expire_locked()
            evicted = 0
            while self._entries and self._bytes > definition.max_size_bytes:
                self._drop_oldest_locked()
                evicted += 1
            if evicted:
                self.stats["evicted_full"] += evicted
                self._retention_changed_locked()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()
            self.appended.notify_all()

    def destroy(self) -> None:
        self.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=False)

    # ---- internals -----------------------------------------------------------------------

    def _entry(self, seq: int) -> _Entry | None:
        if not self._entries:
            return None
        i = seq - self._entries[0].seq
        if 0 <= i < len(self._entries):
            return self._entries[i]
        return None

    def _expire_locked(self) -> int:
        ttl = self.definition.ttl_ms
        if ttl is None or not self._entries:
            return 0
        cutoff = self._clock.wall_ms() - ttl
        n = 0
        while self._entries and self._entries[0].ingest_ms <= cutoff:
            self._drop_oldest_locked()
            n += 1
        if n:
            self.stats["expired_ttl"] += n
            self._retention_changed_locked()
        return n

    def _drop_oldest_locked(self) -> None:
        e = self._entries.popleft()
        self._bytes -= e.stored_bytes

    def _retention_changed_locked(self) -> None:
        """Persist the new oldest sequence number and delete segments nobody needs."""
        if self.directory is None:
            return
        oldest = self._entries[0].seq if self._entries else self._next_seq
        write_json_atomic(self.directory / "state.json", {"oldest": oldest, "next": self._next_seq})
        keep = self._entries[0].segment if self._entries else None
        for seg in sorted(self._segment_bytes):
            if keep is not None and seg >= keep:
                break
            self._delete_segment(seg)

    def _delete_segment(self, seg: int) -> None:
        fd = self._readers.pop(seg, None)
        if fd is not None:
            os.close(fd)
        if seg == self._writer_segment and self._writer is not None:
            self._writer.close()
            self._writer = None
            self._writer_segment = -1
        self._segment_bytes.pop(seg, None)
        assert self.directory is not None
        (self.directory / "segments" / f"{seg:020d}.seg").unlink(missing_ok=True)

    def _write_locked(self, seq: int, ingest_ms: int, payload: bytes) -> _Entry:
        if self.directory is None:
            return _Entry(seq, ingest_ms, len(payload), -1, 0, payload)
        record = RECORD_HEADER.pack(seq, ingest_ms, len(payload), zlib.crc32(payload)) + payload
        if self._writer is None or (
            0 < self._segment_bytes[self._writer_segment]
            and self._segment_bytes[self._writer_segment] + len(record)
            > self.definition.segment_size_bytes
        ):
            self._open_segment(seq)
        offset = self._segment_bytes[self._writer_segment]
        self._writer.write(record)
        self._writer.flush()
        if self.definition.flush_on_write:
            os.fsync(self._writer.fileno())
        self._segment_bytes[self._writer_segment] = offset + len(record)
        return _Entry(seq, ingest_ms, len(payload), self._writer_segment, offset, None)

    def _open_segment(self, first_seq: int) -> None:
        if self._writer is not None:
            self._writer.close()
        assert self.directory is not None
        path = self.directory / "segments" / f"{first_seq:020d}.seg"
        self._writer = open(path, "ab")
        self._writer_segment = first_seq
        self._segment_bytes[first_seq] = path.stat().st_size

    def _payload(self, e: _Entry) -> bytes:
        if e.payload is not None:
            return e.payload
        fd = self._readers.get(e.segment)
        if fd is None:
            assert self.directory is not None
            fd = os.open(self.directory / "segments" / f"{e.segment:020d}.seg", os.O_RDONLY)
            self._readers[e.segment] = fd
        return os.pread(fd, e.length, e.offset + RECORD_HEADER.size)

    def _load(self) -> None:
        assert self.directory is not None
        state_path = self.directory / "state.json"
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        oldest = int(state.get("oldest", 0))
        next_seq = int(state.get("next", 0))
        for path in sorted((self.directory / "segments").glob("*.seg")):
            seg = int(path.stem)
            good = self._scan_segment(path, seg, oldest)
            self._segment_bytes[seg] = good
        if self._entries:
            next_seq = max(next_seq, self._entries[-1].seq + 1)
        self._next_seq = next_seq
        if self._segment_bytes:
            last = max(self._segment_bytes)
            self._writer = open(self.directory / "segments" / f"{last:020d}.seg", "ab")
            self._writer_segment = last
        self._expire_locked()

    def _scan_segment(self, path: Path, seg: int, oldest: int) -> int:
        data = path.read_bytes()
        pos = 0
        while pos + RECORD_HEADER.size <= len(data):
            seq, ingest_ms, length, crc = RECORD_HEADER.unpack_from(data, pos)
            end = pos + RECORD_HEADER.size + length
            if end > len(data) or zlib.crc32(data[pos + RECORD_HEADER.size : end]) != crc:
                break
            if seq >= oldest and (not self._entries or seq == self._entries[-1].seq + 1):
                self._entries.append(_Entry(seq, ingest_ms, length, seg, pos, None))
                self._bytes += RECORD_HEADER.size + length
            pos = end
        if pos != len(data):
            self.stats["torn_records_truncated"] += 1
            log.warning(
                "event=segment_truncated stream=%s segment=%s kept_bytes=%d dropped_bytes=%d",
                self.definition.name,
                path.name,
                pos,
                len(data) - pos,
            )
            with open(path, "r+b") as f:
                f.truncate(pos)
        return pos
