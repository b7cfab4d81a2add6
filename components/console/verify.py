"""`floorline buffer verify`: is the log file sound, and can every record it ever accepted be
accounted for?

For each stream, every sequence number from 1 to the last one issued must be exactly one of:
held (still in the log), evicted (recorded with its range and reason), or retired (delivered
to every consumer, then deleted). Eviction and retirement both delete the oldest rows of a
class, so what a stream lost to retirement is the part below its oldest held record that no
eviction accounts for, and the per-class sum must equal the log's `retired.<class>` counter.
Anything else missing is a gap: records that vanished without being counted.

Everything is read on one read-only connection in one transaction (one consistent snapshot
while the components keep writing); `gather` does the reading, `check` is pure.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.console.levels import Level
from components.console.logview import read_only
from components.core.envelope import CLASSES
from components.core.log import CLASS_TABLES as LOG_TABLES

Interval = tuple[int, int]  # inclusive


@dataclass(frozen=True)
class StreamFacts:
    device: str
    stream: str
    cls: str
    produced: int  # last sequence number issued
    held_rows: int
    held_distinct: int
    held_min: int | None
    held_max: int | None
    held_gaps: tuple[Interval, ...]  # holes between held_min and held_max
    evictions: tuple[tuple[int, int, int, str], ...]  # first, last, count, reason


@dataclass(frozen=True)
class LogSnapshot:
    integrity: list[str]  # PRAGMA integrity_check lines (["ok"] when sound)
    streams: list[StreamFacts]
    counters: Mapping[str, int]


@dataclass
class StreamVerdict:
    device: str
    stream: str
    cls: str
    produced: int
    held: int
    evicted: int
    retired: int
    gaps: list[Interval] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    level: Level = Level.OK


@dataclass
class VerifyReport:
    integrity: list[str]
    streams: list[StreamVerdict]
    classes: list[dict[str, Any]]  # per class: retired by accounting vs counter
    level: Level

    def to_dict(self) -> dict[str, Any]:
        return {
            "integrity": self.integrity,
            "level": self.level.name,
            "classes": self.classes,
            "streams": [
                {**{k: v for k, v in vars(s).items() if k != "level"}, "level": s.level.name}
                for s in self.streams
            ],
        }


# --------------------------------------------------------------------------- reading
def gather(path: str | Path, *, integrity: bool = True) -> LogSnapshot:
    with read_only(path) as conn:
        lines = (
            [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            if integrity
            else ["not checked"]
        )
        held: dict[int, tuple[int, int, int | None, int | None]] = {}
        gaps: dict[int, list[Interval]] = {}
        for cls in CLASSES:
            table = LOG_TABLES[cls]
            for sid, n, distinct, lo, hi in conn.execute(
                f"SELECT sid, count(*), count(DISTINCT seq), min(seq), max(seq) FROM {table} "
                "GROUP BY sid"
            ):
                held[sid] = (n, distinct, lo, hi)
            for sid, lo, hi in conn.execute(
                f"SELECT sid, prev + 1, seq - 1 FROM (SELECT sid, seq, lag(seq) OVER "
                f"(PARTITION BY sid ORDER BY seq) AS prev FROM {table}) WHERE seq > prev + 1"
            ):
                gaps.setdefault(sid, []).append((lo, hi))
        evictions: dict[int, list[tuple[int, int, int, str]]] = {}
        for sid, first, last, count, reason in conn.execute(
            "SELECT sid, first_seq, last_seq, count, reason FROM evictions ORDER BY id"
        ):
            evictions.setdefault(sid, []).append((first, last, count, reason))
        streams = []
        for sid, device, stream, cls, next_seq in conn.execute(
            "SELECT id, device, stream, cls, next_seq FROM streams ORDER BY id"
        ):
            n, distinct, lo, hi = held.get(sid, (0, 0, None, None))
            streams.append(
                StreamFacts(
                    device,
                    stream,
                    cls,
                    next_seq - 1,
                    n,
                    distinct,
                    lo,
                    hi,
                    tuple(gaps.get(sid, ())),
                    tuple(evictions.get(sid, ())),
                )
            )
        counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
    return LogSnapshot(lines, streams, counters)


# --------------------------------------------------------------------------- intervals
def _union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(i for i in intervals if i[0] <= i[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return out


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    return _subtract(a, _subtract(a, b))


def _size(intervals: Iterable[Interval]) -> int:
    return sum(hi - lo + 1 for lo, hi in intervals)


# --------------------------------------------------------------------------- checking
def check_stream(s: StreamFacts) -> StreamVerdict:
    evicted = _union((f, last) for f, last, _n, _r in s.evictions)
    counted = sum(n for _f, _l, n, _r in s.evictions)
    v = StreamVerdict(s.device, s.stream, s.cls, s.produced, s.held_distinct, counted, 0)
    if counted != _size(evicted):
        v.problems.append(
            f"eviction records count {counted} but cover {_size(evicted)} sequence numbers"
        )
    held: list[Interval] = []
    if s.held_min is not None and s.held_max is not None:
        held = _subtract([(s.held_min, s.held_max)], _union(s.held_gaps))
        if s.held_rows != s.held_distinct:
            v.problems.append(f"{s.held_rows - s.held_distinct} duplicate sequence numbers held")
        if s.held_max > s.produced:
            v.problems.append(f"holds seq {s.held_max} beyond the last issued {s.produced}")
        both = _intersect(held, evicted)
        if both:
            v.problems.append(f"sequence numbers both held and recorded as evicted: {both}")
    unexplained = _subtract(_subtract([(1, s.produced)], held), evicted)
    below = s.held_min if s.held_min is not None else s.produced + 1
    retired = _intersect(unexplained, [(1, below - 1)]) if below > 1 else []
    v.retired = _size(retired)
    v.gaps = _subtract(unexplained, retired)
    if v.gaps:
        v.problems.append(f"{_size(v.gaps)} records missing without trace: {_fmt(v.gaps)}")
    v.level = Level.FAIL if v.problems else Level.OK
    return v


def _fmt(intervals: Sequence[Interval], limit: int = 5) -> str:
    parts = [f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in intervals[:limit]]
    more = f" (+{len(intervals) - limit} more)" if len(intervals) > limit else ""
    return ", ".join(parts) + more


def check(snapshot: LogSnapshot) -> VerifyReport:
    streams = [check_stream(s) for s in snapshot.streams]
    salvaged = snapshot.counters.get("salvage_events", 0) > 0
    classes: list[dict[str, Any]] = []
    levels = [v.level for v in streams]
    for cls in CLASSES:
        accounted = sum(v.retired for v in streams if v.cls == cls)
        counter = snapshot.counters.get(f"retired.{cls}", 0)
        level = Level.OK
        note = "retired records match the log's counter"
        if accounted != counter:
            if salvaged:
                level, note = Level.WARN, "counter restarted by a salvage: cannot cross-check"
            elif accounted > counter:
                level = Level.FAIL
                note = f"{accounted - counter} records gone below the held ones, not counted"
            else:
                level = Level.FAIL
                note = f"counter says {counter - accounted} more retired than are missing"
        levels.append(level)
        classes.append(
            {
                "cls": cls,
                "retired_accounted": accounted,
                "retired_counter": counter,
                "level": level.name,
                "detail": note,
            }
        )
    levels.append(Level.OK if snapshot.integrity == ["ok"] else Level.FAIL)
    return VerifyReport(snapshot.integrity, streams, classes, max(levels, default=Level.OK))


def run(path: str | Path) -> VerifyReport:
    try:
        return check(gather(path))
    except sqlite3.DatabaseError as exc:
        return VerifyReport([f"unreadable: {exc}"], [], [], Level.FAIL)
