"""Named consumers: each reads past its durable offset per class and acknowledges after its
own work is committed (at-least-once); records every consumer has acknowledged are retired.
Checkpoints let a consumer commit its own state with what it derived."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from components.core.clock import Clock
from components.core.envelope import CLASSES, DRAIN_ORDER, Record, validate_class
from components.core.log.budget import delete_prefix
from components.core.log.db import Db
from components.core.log.decode import Decoder
from components.core.log.errors import UnknownConsumer
from components.core.log.records import ReadBatch
from components.core.log.rows import in_position_order
from components.core.log.schema import CHECKPOINTS_SQL, READ_COLUMNS

_loads = json.JSONDecoder().decode


class Consumers:
    def __init__(self, db: Db, clock: Clock, decoder: Decoder) -> None:
        self._db = db
        self._clock = clock
        self._decoder = decoder

    def register(self, name: str, classes: Iterable[str] = CLASSES) -> None:
        """A consumer starts at the beginning of what the log still holds (at-least-once)."""
        classes = [validate_class(c) for c in classes]
        with self._db.lock, self._db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO consumers(name, cls, acked_pos) VALUES (?,?,0)",
                [(name, c) for c in classes],
            )

    def unregister(self, name: str) -> None:
        """Forget a consumer; records only it was holding become free to retire."""
        with self._db.lock, self._db.transaction() as conn:
            conn.execute("DELETE FROM consumers WHERE name=?", (name,))
            for cls in CLASSES:
                self._retire(cls)

    def offsets(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name, cls, pos in self._db.conn.execute("SELECT name, cls, acked_pos FROM consumers"):
            out.setdefault(name, {})[cls] = pos
        return out

    def read(
        self,
        consumer: str,
        limit: int = 500,
        classes: Iterable[str] | None = None,
        after: Mapping[str, int] | None = None,
    ) -> ReadBatch:
        """Up to `limit` unacknowledged records for `consumer`, most important class first
        (alerts, events, aggregates, health, raw), in log order within a class. `after`
        (positions per class, e.g. the cursors of batches read but not yet acknowledged)
        starts further on, so a consumer can acknowledge less often than it reads."""
        with self._db.lock:
            offsets = self.offsets().get(consumer)
            if offsets is None:
                raise UnknownConsumer(f"consumer {consumer!r} is not registered")
            wanted = [c for c in DRAIN_ORDER if c in offsets and (classes is None or c in classes)]
            out = ReadBatch()
            for cls in wanted:
                if len(out) >= limit:
                    break
                start = max(offsets[cls], (after or {}).get(cls, 0))
                records, positions = self._read_class(cls, start, limit - len(out))
                out.extend(records)
                out.positions.extend(positions)
            return out

    def _read_class(self, cls: str, after_pos: int, limit: int) -> tuple[list[Record], list[int]]:
        """Up to `limit` records of `cls` past `after_pos`, and their positions. SQLite hands
        over each column as one JSON array (fetching rows cost more than decoding them)."""
        n, *texts = self._db.conn.execute(READ_COLUMNS[cls], (after_pos, limit)).fetchone()
        if not n:
            return [], []
        # sid, clock and schema come as one number when every row has the same.
        cols = [[text] * n if type(text) is int else _loads(text) for text in texts]
        positions, seqs, monos, walls, values, sids, clocks, schemas = in_position_order(cols)
        records = self._decoder.columns(cls, n, sids, seqs, monos, walls, clocks, schemas, values)
        return records, positions

    def ack_positions(self, consumer: str, cursor: Mapping[str, int]) -> None:
        """Advance `consumer` to the given position per class; offsets never move back.
        Records every consumer has acknowledged are retired (deleted) in the same commit."""
        if not cursor:
            return
        with self._db.lock, self._db.transaction():
            self.ack_rows(consumer, cursor, self._clock.wall_ms())

    def ack_rows(self, consumer: str, cursor: Mapping[str, int], now: int) -> None:
        """Inside a write transaction: `ack_positions`."""
        for cls, pos in cursor.items():
            cur = self._db.conn.execute(
                "UPDATE consumers SET acked_pos=max(acked_pos, ?), acked_wall_ms=? "
                "WHERE name=? AND cls=?",
                (pos, now, consumer, cls),
            )
            if cur.rowcount == 0:
                raise UnknownConsumer(f"consumer {consumer!r} does not take {cls!r}")
            self._retire(cls)

    def _retire(self, cls: str) -> None:
        conn = self._db.conn
        upto = conn.execute("SELECT min(acked_pos) FROM consumers WHERE cls=?", (cls,)).fetchone()[
            0
        ]
        if upto:  # None (nobody consumes this class: keep) or 0 (nothing acked yet)
            n = delete_prefix(conn, self._clock, cls, upto, None)
            if n:
                self._db.bump(f"retired.{cls}", n)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoints(self, entries: Mapping[str, str], now: int) -> None:
        """Inside a write transaction: store the entries (the table is created on first use)."""
        conn = self._db.conn
        conn.execute(CHECKPOINTS_SQL)
        conn.executemany(
            "INSERT INTO checkpoints(name, body, wall_ms) VALUES (?,?,?) ON CONFLICT"
            "(name) DO UPDATE SET body=excluded.body, wall_ms=excluded.wall_ms",
            [(name, text, now) for name, text in entries.items()],
        )

    def load_checkpoints(self, prefix: str) -> dict[str, str]:
        """Every checkpoint entry whose name starts with `prefix`, as last committed with
        `append_records(checkpoint=...)`."""
        with self._db.lock:
            conn = self._db.conn
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='checkpoints'"
            ).fetchone()
            if exists is None:
                return {}
            rows: list[Any] = conn.execute(
                "SELECT name, body FROM checkpoints WHERE substr(name, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
        return dict(rows)
