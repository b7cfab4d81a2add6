"""The byte budget (database pages in use plus the WAL) and the free-disk floor: a new record
may push out only records of its own or a lower priority, oldest first, and every eviction is
recorded with the exact sequence range it removed. Refused appends are counted durably."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from components.core.clock import Clock
from components.core.envelope import EVICTION_ORDER
from components.core.log.db import Db
from components.core.log.errors import BudgetExceeded
from components.core.log.schema import PAGES, RANK, TABLE

log = logging.getLogger("floorline.log")

# Eviction deletes the oldest rows in chunks that start small (little overshoot for a
# trickle of appends) and double while the shortfall persists (few statements for a flood).
_EVICT_FIRST_CHUNK_ROWS = 32
_EVICT_MAX_CHUNK_ROWS = 8192


def delete_prefix(
    conn: sqlite3.Connection, clock: Clock, cls: str, upto_pos: int, reason: str | None
) -> int:
    """Delete every record of `cls` at or below `upto_pos`; record the ranges if evicted
    (`reason`), not when retired (every consumer has acknowledged them)."""
    table = TABLE[cls]
    if reason is not None:
        now = clock.wall_ms()
        ranges = conn.execute(
            f"SELECT sid, min(seq), max(seq), count(*) FROM {table} WHERE pos<=? GROUP BY sid",
            (upto_pos,),
        ).fetchall()
        conn.executemany(
            "INSERT INTO evictions(sid, cls, reason, first_seq, last_seq, count, wall_ms)"
            " VALUES (?,?,?,?,?,?,?)",
            [(sid, cls, reason, lo, hi, n, now) for sid, lo, hi, n in ranges],
        )
        if ranges:
            log.warning(
                "event=evicted cls=%s reason=%s records=%d streams=%d",
                cls,
                reason,
                sum(r[3] for r in ranges),
                len(ranges),
            )
    cur = conn.execute(f"DELETE FROM {table} WHERE pos<=?", (upto_pos,))
    return cur.rowcount


class Budget:
    def __init__(
        self, db: Db, clock: Clock, path: Path, budget_bytes: int, free_floor_bytes: int
    ) -> None:
        self._db = db
        self._clock = clock
        self.budget_bytes = budget_bytes
        self.free_floor_bytes = free_floor_bytes
        self._dir = str(path.parent)
        self._wal_path = f"{path}-wal"
        self.wal_reserve = 0
        self.rejected: dict[str, int] = {}  # refused records per class, since this open
        self._unpersisted: dict[str, int] = {}  # refusals counted while the disk was full
        self._vacuum_after_commit = False

    def attach(self) -> None:
        """At open: checkpoint and truncate the WAL well before it could eat a large part of
        the budget (a sixteenth of the budget or of the filesystem, whichever is smaller)."""
        conn, page_size = self._db.conn, self._db.page_size
        try:
            st = os.statvfs(self._db.path.parent)
            room = min(self.budget_bytes, st.f_blocks * st.f_frsize)
        except OSError:
            room = self.budget_bytes
        wal_reserve = max(64 * 1024, min(room // 16, 16 * 1024 * 1024))
        conn.execute(f"PRAGMA wal_autocheckpoint={max(16, wal_reserve // page_size)}")
        conn.execute(f"PRAGMA journal_size_limit={wal_reserve}")
        self.wal_reserve = wal_reserve

    # ------------------------------------------------------------------ measuring
    def used_bytes(self) -> int:
        """Bytes the log occupies now: database pages in use plus the WAL file."""
        return self.db_used_bytes() + self.wal_bytes()

    def wal_bytes(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0

    def _pages(self) -> tuple[int, int]:
        """(pages in the file, pages on the free list), as this transaction sees them."""
        page_count, free_pages = self._db.conn.execute(PAGES).fetchone()
        return page_count, free_pages

    def db_used_bytes(self) -> int:
        page_count, free_pages = self._pages()
        return (page_count - free_pages) * self._db.page_size

    def _limit_bytes(self, page_count: int) -> tuple[int, str]:
        """How many bytes of pages the log may use now, and what sets that limit.

        Deleting rows does not give disk space back by itself: freed pages stay in the file
        for reuse. So below the free-disk floor the file may not grow at all, and evicting
        (then `incremental_vacuum`) is what returns space to the filesystem."""
        budget = self.budget_bytes - self.wal_reserve
        try:
            st = os.statvfs(self._dir)
        except OSError:
            return budget, "budget"
        wal_growth = max(0, self.wal_reserve - self.wal_bytes())  # the WAL may still grow
        disk = (
            page_count * self._db.page_size
            + st.f_bavail * st.f_frsize
            - self.free_floor_bytes
            - wal_growth
        )
        return (disk, "disk_floor") if disk < budget else (budget, "budget")

    # ------------------------------------------------------------------ evicting
    def make_room(self, incoming: int, cls: str, may_evict_own: bool) -> None:
        """Inside the append transaction: evict until `incoming` bytes fit the limit."""
        page_count, free_pages = self._pages()
        limit, reason = self._limit_bytes(page_count)
        over = (page_count - free_pages) * self._db.page_size + incoming - limit
        if over <= 0:
            return
        rank = RANK[cls]
        for victim in EVICTION_ORDER:
            if RANK[victim] > rank or (victim == cls and not may_evict_own):
                break
            chunk = _EVICT_FIRST_CHUNK_ROWS
            while over > 0 and self._evict_oldest(victim, reason, chunk):
                over = self.db_used_bytes() + incoming - limit
                chunk = min(chunk * 2, _EVICT_MAX_CHUNK_ROWS)
            if over <= 0:
                if reason == "disk_floor":
                    self._vacuum_after_commit = True
                return
        used = self.db_used_bytes()
        raise BudgetExceeded(
            f"log full ({reason}): {used} bytes of pages in use, limit {limit}; no record of "
            f"class {cls!r} or lower may be evicted to fit {incoming} more",
            cls=cls,
            used_bytes=used,
            budget_bytes=self.budget_bytes,
        )

    def _evict_oldest(self, cls: str, reason: str, rows: int) -> bool:
        conn = self._db.conn
        table = TABLE[cls]
        row = conn.execute(
            f"SELECT pos FROM {table} ORDER BY pos LIMIT 1 OFFSET ?", (rows - 1,)
        ).fetchone()
        if row is None:
            row = conn.execute(f"SELECT max(pos) FROM {table}").fetchone()
            if row[0] is None:
                return False
        delete_prefix(conn, self._clock, cls, row[0], reason)
        return True

    def committed(self) -> None:
        """After a commit: the refusals it carried are on disk; give evicted pages back."""
        self._unpersisted.clear()
        if self._vacuum_after_commit:
            self._vacuum_after_commit = False
            self._db.conn.execute("PRAGMA incremental_vacuum")

    def rolled_back(self) -> None:
        self._vacuum_after_commit = False

    # ------------------------------------------------------------------ refusals
    def count_refusal(self, cls: str, records: int) -> None:
        """A refused append is counted durably, in its own small transaction; when even that
        cannot commit (the disk itself is full), at the next commit that can."""
        self.rejected[cls] = self.rejected.get(cls, 0) + records
        self._unpersisted[cls] = self._unpersisted.get(cls, 0) + records
        log.warning("event=append_refused cls=%s records=%d reason=log_full", cls, records)
        try:
            self._db.begin()
            self.persist_refusals()
            self._db.conn.execute("COMMIT")
            self._unpersisted.clear()
        except sqlite3.Error as exc:
            if self._db.conn.in_transaction:
                self._db.conn.execute("ROLLBACK")
            log.error("event=refusal_not_persisted_yet cls=%s error=%r", cls, exc)

    def persist_refusals(self) -> None:
        """Inside a write transaction: the refusals not yet on disk (cleared after COMMIT)."""
        for cls, n in self._unpersisted.items():
            self._db.bump(f"rejected_full.{cls}", n)
