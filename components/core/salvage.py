"""Recovering what can be read from a corrupt log file into a fresh one.

The corrupt file has already been moved aside (never deleted). Rows are copied with their
original positions and sequence numbers, so consumer offsets stay meaningful and no sequence
number is ever reused. Sequence numbers that should exist but could not be read are recorded
as evictions with reason `corruption`: the loss is counted, not hidden.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.core.envelope import CLASSES

if TYPE_CHECKING:
    from components.core.log import Log

log = logging.getLogger("floorline.salvage")

_MAX_SKIP = 1 << 24


def _rows(conn: sqlite3.Connection, table: str, key: str, cols: str) -> Iterator[tuple[Any, ...]]:
    """Rows of `table` in `key` order, stepping over unreadable pages."""
    last, skip, failures = -(1 << 62), 1, 0
    while True:
        try:
            batch = conn.execute(
                f"SELECT {key}, {cols} FROM {table} WHERE {key}>? ORDER BY {key} LIMIT 256",
                (last,),
            ).fetchall()
        except sqlite3.DatabaseError:
            failures += 1
            if last < 0:
                last = 0
            last += skip
            skip *= 2
            if skip > _MAX_SKIP:
                return
            continue
        if not batch:
            return
        skip = 1
        yield from batch
        last = batch[-1][0]


def salvage_into(target: Log, source: Path) -> dict[str, int]:
    """Copy readable rows of `source` into the (fresh) `target`; returns counts."""
    report = {"rows_salvaged": 0, "seqs_lost": 0, "rows_unattributed": 0, "tables_unreadable": 0}
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        log.error("event=salvage_failed path=%s reason=%r", source, exc)
        report["tables_unreadable"] = 1 + len(CLASSES)
        return report
    dst = target._conn
    dst.execute("BEGIN IMMEDIATE")
    try:
        streams: dict[int, list[Any]] = {}
        try:
            for sid, device, stream, cls, next_seq, fields in _rows(
                src, "streams", "id", "device, stream, cls, next_seq, fields"
            ):
                streams[sid] = [device, stream, cls, next_seq, fields]
        except sqlite3.DatabaseError:
            report["tables_unreadable"] += 1
        seen: dict[int, list[int]] = {sid: [] for sid in streams}
        for cls in CLASSES:
            table = f"rec_{cls}"
            try:
                for row in _rows(
                    src, table, "pos", "sid, seq, mono_ns, wall_ms, clock, schema, body"
                ):
                    _pos, sid, seq = row[0], row[1], row[2]
                    if sid not in streams:
                        report["rows_unattributed"] += 1
                        dst.execute(
                            "INSERT INTO quarantine(reason, body, wall_ms) VALUES (?,?,?)",
                            ("salvaged record of an unreadable stream", json.dumps(row), row[4]),
                        )
                        continue
                    dst.execute(
                        f"INSERT INTO {table}(pos, sid, seq, mono_ns, wall_ms, clock, schema, body)"
                        " VALUES (?,?,?,?,?,?,?,?)",
                        row,
                    )
                    seen[sid].append(seq)
                    report["rows_salvaged"] += 1
            except sqlite3.DatabaseError:
                report["tables_unreadable"] += 1
        for sid, (device, stream, cls, next_seq, fields) in streams.items():
            seqs = sorted(seen[sid])
            next_seq = max(next_seq, (seqs[-1] + 1) if seqs else 1)
            dst.execute(
                "INSERT INTO streams(id, device, stream, cls, next_seq, fields)"
                " VALUES (?,?,?,?,?,?)",
                (sid, device, stream, cls, next_seq, fields),
            )
            for lo, hi in _gaps(seqs, next_seq - 1):
                dst.execute(
                    "INSERT INTO evictions(sid, cls, reason, first_seq, last_seq, count, wall_ms)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (sid, cls, "corruption", lo, hi, hi - lo + 1, target._clock.wall_ms()),
                )
                report["seqs_lost"] += hi - lo + 1
        for table, key, cols in (
            ("consumers", "name || '/' || cls", "name, cls, acked_pos, acked_wall_ms"),
            ("evictions", "id", "sid, cls, reason, first_seq, last_seq, count, wall_ms"),
            ("epochs", "id", "boot_id, anchor_mono_ns, anchor_wall_ms"),
            ("quarantine", "id", "reason, body, wall_ms"),
            ("idempotency", "id", "key, fingerprint, identities, wall_ms"),
        ):
            try:
                for row in _rows(src, table, key, cols):
                    values = row[1:] if table == "consumers" else row
                    marks = ",".join("?" * len(values))
                    names = cols if table == "consumers" else f"id, {cols}"
                    dst.execute(f"INSERT OR IGNORE INTO {table}({names}) VALUES ({marks})", values)
            except sqlite3.DatabaseError:
                report["tables_unreadable"] += 1
        dst.execute("COMMIT")
    except BaseException:
        dst.execute("ROLLBACK")
        raise
    finally:
        src.close()
    target._streams.clear()
    target._by_sid.clear()
    log.warning(
        "event=salvaged path=%s %s", source, " ".join(f"{k}={v}" for k, v in report.items())
    )
    return report


def _gaps(seqs: list[int], last_expected: int) -> Iterator[tuple[int, int]]:
    """Missing ranges between the first salvaged seq and the last one the stream issued.
    Below the first salvaged seq records were retired (delivered) or evicted earlier."""
    if not seqs:
        return
    prev = seqs[0]
    for s in seqs[1:]:
        if s > prev + 1:
            yield prev + 1, s - 1
        prev = s
    if last_expected > prev:
        yield prev + 1, last_expected
