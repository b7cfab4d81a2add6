"""What a technician, a health endpoint or an export sees of the log, without writing to it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from components.core.envelope import CLASSES, Record, validate_class
from components.core.log.budget import Budget
from components.core.log.db import Db
from components.core.log.decode import Decoder
from components.core.log.epochs import Epochs
from components.core.log.schema import TABLE


def _free_disk(db: Db) -> int | None:
    try:
        st = os.statvfs(db.path.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class Inspection:
    def __init__(
        self, db: Db, device: str, budget: Budget, epochs: Epochs, decoder: Decoder
    ) -> None:
        self._db = db
        self._device = device
        self._budget = budget
        self._epochs = epochs
        self._decoder = decoder

    def data_version(self) -> int:
        """A number that changes when another connection (another process: a producer, an
        eviction) has committed since it was last asked; this connection's own commits leave
        it be. A poller that found nothing may skip reading while it stays the same."""
        with self._db.lock:
            return int(self._db.conn.execute("PRAGMA data_version").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Everything a technician or the shadow needs to know about the log."""
        with self._db.lock:
            c = self._db.conn
            classes: dict[str, dict[str, Any]] = {}
            for cls, table in TABLE.items():
                n, oldest_wall = c.execute(f"SELECT count(*), min(wall_ms) FROM {table}").fetchone()
                classes[cls] = {"records": n, "oldest_wall_ms": oldest_wall}
            evicted: dict[str, dict[str, int]] = {}
            for cls, reason, n in c.execute(
                "SELECT cls, reason, sum(count) FROM evictions GROUP BY cls, reason"
            ):
                evicted.setdefault(cls, {})[reason] = n
            backlog: dict[str, dict[str, dict[str, Any]]] = {}
            for name, cls, acked in c.execute("SELECT name, cls, acked_pos FROM consumers"):
                n, oldest = c.execute(
                    f"SELECT count(*), min(wall_ms) FROM {TABLE[cls]} WHERE pos>?", (acked,)
                ).fetchone()
                backlog.setdefault(name, {})[cls] = {"records": n, "oldest_wall_ms": oldest}
            counters = dict(c.execute("SELECT name, value FROM counters").fetchall())
            db_bytes = self._budget.db_used_bytes()
            wal = self._budget.wal_bytes()
            free_disk = _free_disk(self._db)
            return {
                "path": str(self._db.path),
                "device": self._device,
                "budget_bytes": self._budget.budget_bytes,
                "used_bytes": db_bytes + wal,
                "wal_bytes": wal,
                "free_disk_bytes": free_disk,
                "free_floor_bytes": self._budget.free_floor_bytes,
                "classes": classes,
                "evicted": evicted,
                "backlog": backlog,
                "counters": counters,
                "clock_synced": self._epochs.clock_synced(),
                "quarantined": c.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            }

    def _read_only(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self._db.path}?mode=ro", uri=True, timeout=30)

    def quick_stats(self) -> dict[str, Any]:
        """The part of `stats()` a health endpoint polls, in O(log n) on its own read-only
        connection, so polling never holds up writers (`stats()` counts rows under the lock).
        Record counts come from positions: exact while deletions are prefix deletes (retire,
        evict); after a salvage that lost pages they are upper bounds."""
        conn = self._read_only()
        try:
            conn.execute("BEGIN")  # one snapshot
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free_pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
            spans = {
                cls: conn.execute(f"SELECT min(pos), max(pos) FROM {table}").fetchone()
                for cls, table in TABLE.items()
            }
            consumers = conn.execute("SELECT name, cls, acked_pos FROM consumers").fetchall()
            conn.execute("COMMIT")
        finally:
            conn.close()
        records = {cls: 0 if hi is None else hi - lo + 1 for cls, (lo, hi) in spans.items()}
        backlog: dict[str, dict[str, int]] = {}
        for name, cls, acked in consumers:
            lo, hi = spans[cls]
            backlog.setdefault(name, {})[cls] = 0 if hi is None else hi - max(acked, lo - 1)
        free_disk = _free_disk(self._db)
        return {
            "used_bytes": (pages - free_pages) * self._db.page_size + self._budget.wal_bytes(),
            "budget_bytes": self._budget.budget_bytes,
            "free_disk_bytes": free_disk,
            "records": records,
            "backlog": backlog,
            "clock_synced": self._epochs.clock_synced(),
        }

    def streams(self) -> list[dict[str, Any]]:
        """Per stream: identity, class, how many were produced, and evicted."""
        rows = self._db.conn.execute(
            "SELECT s.id, s.device, s.stream, s.cls, s.next_seq - 1, "
            "coalesce((SELECT sum(count) FROM evictions e WHERE e.sid = s.id), 0) "
            "FROM streams s ORDER BY s.id"
        ).fetchall()
        return [
            {"device": d, "stream": s, "cls": c, "produced": p, "evicted": e}
            for _sid, d, s, c, p, e in rows
        ]

    def stream_heads(self, cls: str) -> dict[str, tuple[int, int]]:
        """Per stream of class `cls`: its newest record still held, as (seq, mono_ns). Two of
        these give a stream's rate from its own timestamps, with no counting window to
        quantise it."""
        rows = self._db.conn.execute(
            # SQLite takes the bare columns from the row holding the max().
            f"SELECT s.stream, max(r.seq), r.mono_ns FROM {TABLE[cls]} r "
            "JOIN streams s ON s.id = r.sid GROUP BY r.sid"
        ).fetchall()
        return {stream: (seq, mono_ns) for stream, seq, mono_ns in rows}

    def evictions(self) -> list[dict[str, Any]]:
        rows = self._db.conn.execute(
            "SELECT s.device, s.stream, e.cls, e.reason, e.first_seq, e.last_seq, e.count, "
            "e.wall_ms FROM evictions e JOIN streams s ON s.id = e.sid ORDER BY e.id"
        ).fetchall()
        keys = ("device", "stream", "cls", "reason", "first_seq", "last_seq", "count", "wall_ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def seq_skips(self) -> list[dict[str, Any]]:
        """Ranges a salvage skipped to resume above every number ever handed out: each number
        in them was either never used or used by a record that could not be read back."""
        rows = self._db.conn.execute(
            "SELECT s.device, s.stream, k.first_seq, k.last_seq FROM seq_skips k "
            "JOIN streams s ON s.id = k.sid ORDER BY k.id"
        ).fetchall()
        keys = ("device", "stream", "first_seq", "last_seq")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def snapshot_records(self, classes: Iterable[str] = CLASSES) -> Iterable[Record]:
        """Every record still held, read in one consistent snapshot (exports, verification).
        Runs on its own read connection so writers and consumers are not disturbed."""
        conn = self._read_only()
        try:
            conn.execute("BEGIN")  # one read transaction = one WAL snapshot
            for cls in classes:
                cur = conn.execute(
                    f"SELECT pos, sid, seq, mono_ns, wall_ms, clock, schema, body "
                    f"FROM {TABLE[validate_class(cls)]} ORDER BY pos"
                )
                while rows := cur.fetchmany(1000):
                    yield from self._decoder.rows(cls, rows)
            conn.execute("COMMIT")
        finally:
            conn.close()
