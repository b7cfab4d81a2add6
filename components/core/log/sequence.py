"""Sequence numbers are never reused: every number a stream hands out stays at or below the
mark kept beside the file (`seqmark.py`), which is written ahead by a block and never
lowered, so damage to the log file cannot take it."""

from __future__ import annotations

import logging
from pathlib import Path

from components.core.log.db import Db
from components.core.log.seqmark import RESERVE_BLOCK, SeqMarkDamaged, read_mark, write_mark

log = logging.getLogger("floorline.log")


class SeqReservation:
    """`floor`: new streams start above it; `reserved`: every number handed out is at most it."""

    def __init__(self, db: Db, mark: Path) -> None:
        self._db = db
        self._mark = mark
        self.floor = 0
        self.reserved = 0

    def reconcile(self) -> None:
        """At open: make the mark beside the file cover every number this file handed out,
        and start a file that never met the mark (new, or put where a log was) above it."""
        try:
            mark = read_mark(self._mark)
        except SeqMarkDamaged as exc:
            log.error("event=seqmark_damaged error=%s", exc)
            mark = None
        with self._db.transaction() as c:
            meta = dict(
                c.execute(
                    "SELECT key, value FROM meta WHERE key IN ('seq_reserved', 'seq_floor')"
                ).fetchall()
            )
            issued = c.execute("SELECT coalesce(max(next_seq) - 1, 0) FROM streams").fetchone()[0]
            floor = int(meta.get("seq_floor", 0))
            if "seq_reserved" not in meta and issued == 0 and mark:
                floor = mark
                self._db.set_meta("seq_floor", floor)
            self.floor = floor
            self.reserved = int(meta.get("seq_reserved", 0))
            self.reserve(max(issued, floor, self.reserved), mark)

    def start_above(self, floor: int) -> None:
        """Inside a write transaction: new streams start above `floor` (after a salvage)."""
        self.floor = floor
        self._db.set_meta("seq_floor", floor)

    def reserve(self, top: int, on_disk: int | None = None) -> None:
        """Inside a write transaction: make sure the mark on disk is at least `top` before
        any number up to `top` can commit (written ahead by a block, and never lowered)."""
        c = self._db.conn
        row = c.execute("SELECT value FROM meta WHERE key='seq_reserved'").fetchone()
        current = int(row[0]) if row else 0
        if row is None or current < top:
            if on_disk is None:
                try:
                    on_disk = read_mark(self._mark)
                except SeqMarkDamaged as exc:
                    log.error("event=seqmark_damaged error=%s", exc)
            if on_disk is None or on_disk < max(top, current):
                on_disk = max(top, current) + RESERVE_BLOCK
                write_mark(self._mark, on_disk)
            current = on_disk
            self._db.set_meta("seq_reserved", current)
        self.reserved = current
