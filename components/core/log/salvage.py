"""Recovering what can be read from a corrupt log file into a fresh one.

The corrupt file has already been moved aside (never deleted). Rows are copied with their
original positions and sequence numbers, so consumer offsets stay meaningful and no sequence
number is ever reused: every stream resumes above the sequence mark kept beside the log
(`seqmark.py`), since the counters read from a damaged file may be stale. Sequence numbers
that should exist but could not be read are recorded as evictions with reason `corruption`:
the loss is counted, not hidden; the numbers skipped to resume above the mark are recorded in
`seq_skips`. A damaged WAL is replayed frame by frame into a copy (`wal.py`), so commits after
the damage are read too.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.core.envelope import CLASSES
from components.core.log.schema import CHECKPOINTS_SQL
from components.core.log.wal import replay, wal_problem

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
    replayed: Path | None = None
    if wal_problem(source) is not None:
        # SQLite would ignore the WAL from the damage on: read a copy with every frame that
        # verifies applied instead (the moved-aside file and WAL stay as they were).
        replayed = source.with_name(source.name + ".replayed")
        report["wal_frames_replayed"] = replay(source, Path(f"{source}-wal"), replayed)
    try:
        return _salvage(target, replayed or source, report)
    finally:
        if replayed is not None:  # our own copy, not evidence: the originals stay
            for suffix in ("", "-wal", "-shm"):
                Path(f"{replayed}{suffix}").unlink(missing_ok=True)


def _salvage(target: Log, source: Path, report: dict[str, int]) -> dict[str, int]:
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        log.error("event=salvage_failed path=%s reason=%r", source, exc)
        report["tables_unreadable"] = 1 + len(CLASSES)
        return report
    dst = target._db.conn
    dst.execute(CHECKPOINTS_SQL)  # the target is new: create it as a first use would
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
        # The counters read here may be stale (the damage may have hidden later commits), so
        # every stream resumes above the mark kept beside the file: above every number ever
        # handed out. Without a mark (a log older than it), above the highest number read.
        issued = {sid: max(st[3] - 1, max(seen[sid], default=0)) for sid, st in streams.items()}
        floor = max([target._seqs.floor, *issued.values()])
        if not target._seqs.floor:
            log.warning("event=salvage_without_seqmark path=%s resume_above=%d", source, floor)
        now = target._clock.wall_ms()
        for sid, (device, stream, cls, _next_seq, fields) in streams.items():
            seqs = sorted(seen[sid])
            dst.execute(
                "INSERT INTO streams(id, device, stream, cls, next_seq, fields)"
                " VALUES (?,?,?,?,?,?)",
                (sid, device, stream, cls, floor + 1, fields),
            )
            if floor > issued[sid]:
                dst.execute(
                    "INSERT INTO seq_skips(sid, first_seq, last_seq, wall_ms) VALUES (?,?,?,?)",
                    (sid, issued[sid] + 1, floor, now),
                )
            for lo, hi in _gaps(seqs, issued[sid]):
                dst.execute(
                    "INSERT INTO evictions(sid, cls, reason, first_seq, last_seq, count, wall_ms)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (sid, cls, "corruption", lo, hi, hi - lo + 1, now),
                )
                report["seqs_lost"] += hi - lo + 1
        for table, key, cols in (
            ("consumers", "name || '/' || cls", "name, cls, acked_pos, acked_wall_ms"),
            ("evictions", "id", "sid, cls, reason, first_seq, last_seq, count, wall_ms"),
            ("epochs", "id", "boot_id, anchor_mono_ns, anchor_wall_ms"),
            ("quarantine", "id", "reason, body, wall_ms"),
            ("idempotency", "id", "key, fingerprint, identities, wall_ms"),
            # A component's state, committed with its acknowledgement: both or neither.
            ("checkpoints", "name", "name, body, wall_ms"),
        ):
            keyed_by_name = table in ("consumers", "checkpoints")
            try:
                for row in _rows(src, table, key, cols):
                    values = row[1:] if keyed_by_name else row
                    marks = ",".join("?" * len(values))
                    names = cols if keyed_by_name else f"id, {cols}"
                    dst.execute(f"INSERT OR IGNORE INTO {table}({names}) VALUES ({marks})", values)
            except sqlite3.DatabaseError:
                report["tables_unreadable"] += 1
        _positions_above_acks(src, dst)
        target._seqs.start_above(floor)
        target._db.set_meta("salvaged_from", source.name)
        target._seqs.reserve(floor)
        dst.execute("COMMIT")
    except BaseException:
        dst.execute("ROLLBACK")
        raise
    finally:
        src.close()
    target._streams.clear()
    log.warning(
        "event=salvaged path=%s %s", source, " ".join(f"{k}={v}" for k, v in report.items())
    )
    return report


def _positions_above_acks(src: sqlite3.Connection, dst: sqlite3.Connection) -> None:
    """New records must get positions above every consumer's acknowledged one, or consumers
    would take them as read and they would be retired unsent. AUTOINCREMENT continues from the
    highest position *copied*; records already retired are gone, so continue from the highest
    of that, the old file's counter and every acknowledgement."""
    for cls in CLASSES:
        table = f"rec_{cls}"
        top = dst.execute(
            f"SELECT max(coalesce((SELECT max(pos) FROM {table}), 0),"
            " coalesce((SELECT max(acked_pos) FROM consumers WHERE cls=?), 0))",
            (cls,),
        ).fetchone()[0]
        try:
            row = src.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
            if row and isinstance(row[0], int):
                top = max(top, row[0])
        except sqlite3.DatabaseError:
            pass  # unreadable: the acknowledgements bound it
        if not dst.execute(
            "UPDATE sqlite_sequence SET seq=max(seq, ?) WHERE name=?", (top, table)
        ).rowcount:
            dst.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (table, top))


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
