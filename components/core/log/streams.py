"""The streams table: each stream's identity, its one record class, its field list (records
whose keys match it are stored as a bare JSON array) and its sequence counter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.core.clock import Clock
from components.core.envelope import validate_class, validate_device, validate_stream
from components.core.log.db import Db
from components.core.log.errors import StreamClassMismatch
from components.core.log.rows import encode_json
from components.core.log.schema import fields_of
from components.core.log.sequence import SeqReservation


@dataclass
class Stream:
    sid: int
    device: str
    stream: str
    cls: str
    fields: tuple[str, ...] | None


class Streams:
    """The streams this process has met, by (device, stream) and by id."""

    def __init__(self, db: Db, seqs: SeqReservation, clock: Clock) -> None:
        self._db = db
        self._seqs = seqs
        self._clock = clock
        self.by_key: dict[tuple[str, str], Stream] = {}
        self.by_sid: dict[int, Stream] = {}
        self._new_sids: list[int] = []

    def clear(self) -> None:
        self.by_key.clear()
        self.by_sid.clear()
        self._new_sids.clear()

    def committed(self) -> None:
        self._new_sids.clear()

    def forget_uncommitted(self) -> None:
        """Streams created in a rolled-back transaction do not exist: drop them from the cache."""
        for sid in self._new_sids:
            st = self.by_sid.pop(sid, None)
            if st is not None:
                self.by_key.pop((st.device, st.stream), None)
        self._new_sids.clear()

    def for_record(self, device: str, stream: str, cls: str, payload: Mapping[str, Any]) -> Stream:
        """Inside a write transaction: the stream a record goes to, created on first use."""
        key = (device, stream)
        st = self.by_key.get(key)
        if st is None:
            conn = self._db.conn
            row = conn.execute(
                "SELECT id, cls, fields FROM streams WHERE device=? AND stream=?", key
            ).fetchone()
            if row is None:
                validate_device(device)
                validate_stream(stream)
                validate_class(cls)
                fields: tuple[str, ...] | None = (
                    tuple(payload) if isinstance(payload, Mapping) else None
                )
                if fields is not None and not all(isinstance(k, str) for k in fields):
                    fields = None
                floor = self._seqs.floor
                cur = conn.execute(
                    "INSERT INTO streams(device, stream, cls, next_seq, fields) VALUES (?,?,?,?,?)",
                    (device, stream, cls, floor + 1, encode_json(list(fields)) if fields else None),
                )
                st = Stream(cur.lastrowid or 0, device, stream, cls, fields or None)
                self._new_sids.append(st.sid)
                if floor:  # started above the mark: 1..mark were never used
                    conn.execute(
                        "INSERT INTO seq_skips(sid, first_seq, last_seq, wall_ms) VALUES (?,?,?,?)",
                        (st.sid, 1, floor, self._clock.wall_ms()),
                    )
            else:
                st = Stream(row[0], device, stream, row[1], fields_of(row[2]))
            self.by_key[key] = st
            self.by_sid[st.sid] = st
        if st.cls != cls:
            raise StreamClassMismatch(
                f"stream {stream!r} of {device!r} carries {st.cls!r} records, not {cls!r}"
            )
        return st

    def load(self, sid: int) -> Stream:
        device, stream, cls, fields = self._db.conn.execute(
            "SELECT device, stream, cls, fields FROM streams WHERE id=?", (sid,)
        ).fetchone()
        st = Stream(sid, device, stream, cls, fields_of(fields))
        self.by_key[(device, stream)] = st
        self.by_sid[sid] = st
        return st

    def take_seqs(self, sid: int, n: int) -> int:
        """Inside a write transaction: reserve `n` sequence numbers of stream `sid`; returns
        the first. (Read and advanced under the write lock: another process may have
        appended to the same stream since.)"""
        rows = self._db.conn.execute(
            "UPDATE streams SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq - ?",
            (n, sid, n),
        ).fetchall()
        return int(rows[0][0])
