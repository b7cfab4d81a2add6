"""Clock epochs: one per boot. A record written before the wall clock synced carries its
boot's epoch; the first sync seen in that boot stores an anchor that corrects them on read."""

from __future__ import annotations

import logging

from components.core.clock import Clock, SyncAnchor, SyncDetector
from components.core.log.db import Db

log = logging.getLogger("floorline.log")


class Epochs:
    def __init__(self, db: Db, clock: Clock, boot_id: str) -> None:
        self._db = db
        self._boot_id = boot_id
        self._sync = SyncDetector(clock)
        self.current = 0

    def enter(self) -> None:
        """At open: this boot's epoch, created on first use."""
        with self._db.lock:
            conn = self._db.conn
            conn.execute("INSERT OR IGNORE INTO epochs(boot_id) VALUES (?)", (self._boot_id,))
            self.current = conn.execute(
                "SELECT id FROM epochs WHERE boot_id=?", (self._boot_id,)
            ).fetchone()[0]

    def clock_column(self) -> int:
        """Inside a write transaction: the `clock` column of records written now (0 when the
        wall clock is synced, else this epoch), storing the anchor if the clock just synced."""
        synced, anchor = self._sync.check()
        if anchor is not None:
            self._store_anchor(anchor)
        return 0 if synced else self.current

    def _store_anchor(self, anchor: SyncAnchor) -> None:
        # The first sync seen in a boot corrects every unsynced record of that boot.
        self._db.conn.execute(
            "UPDATE epochs SET anchor_mono_ns=?, anchor_wall_ms=? "
            "WHERE id=? AND anchor_mono_ns IS NULL",
            (anchor.mono_ns, anchor.wall_ms, self.current),
        )
        log.info("event=clock_synced epoch=%d wall_ms=%d", self.current, anchor.wall_ms)

    def anchor(self, epoch: int) -> SyncAnchor | None:
        row = self._db.conn.execute(
            "SELECT anchor_mono_ns, anchor_wall_ms FROM epochs WHERE id=?", (epoch,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return SyncAnchor(mono_ns=row[0], wall_ms=row[1])

    def clock_synced(self) -> bool:
        """Observe the clocks now (storing an anchor if the clock just synced)."""
        with self._db.lock:
            synced, anchor = self._sync.check()
            if anchor is not None:
                with self._db.transaction():
                    self._store_anchor(anchor)
            return synced
