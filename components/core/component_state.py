"""Where each component says how it is, and each sensor or reader how it last was, for the
technician's console on the same device.

Greengrass cannot tell us: nucleus lite has no UpdateState without systemd and no
greengrass-cli, and the classic nucleus only knows RUNNING / ERRORED, not *why*. The health
records in the durable log cannot either: the uplink retires them once delivered. So every
component keeps its own row in a small SQLite file beside the log (`state_path`), which
nothing uploads and nothing retires:

- `components`: state (STARTING, RUNNING, DEGRADED, STOPPING, STOPPED, ERRORED), since when, why,
  the process id (a reader tells "killed" from "stopped"), a heartbeat, restarts;
- `sources`: per sensor or reader (`bme280@0x76`, `rdm6300@dock`): ok / faulty / unknown,
  since when, the last error and when, the last good reading and when.

A component writes through `Reporter`; the health it already appends to the log reaches the
file through `Reporter.watch(log)`, so no service changes. A failure to write here is logged
and counted, never raised: the file is for people, the log is for data.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from components.core.clock import Clock, host_clock

if TYPE_CHECKING:
    from components.core.log import NewRecord

log = logging.getLogger("floorline.state")

STARTING: Final = "STARTING"
RUNNING: Final = "RUNNING"
DEGRADED: Final = "DEGRADED"
STOPPING: Final = "STOPPING"
STOPPED: Final = "STOPPED"
ERRORED: Final = "ERRORED"  # ended on an error it could not get past (Greengrass's word)
STATES: Final = (STARTING, RUNNING, DEGRADED, STOPPING, STOPPED, ERRORED)

# Health events that decide whether a source is faulty or fine; others (periodic reader
# statistics) say nothing about it. A `state` field decides when the event does not.
FAULT_EVENTS: Final = frozenset({"sensor_fault", "reader_fault", "loop_fault"})
CLEAR_EVENTS: Final = frozenset({"sensor_recovered", "reader_recovered", "loop_fault_cleared"})

HEARTBEAT_S: Final = 10.0  # how often a running component touches its row
READING_FLUSH_S: Final = 5.0  # last-good readings are written at most this often
_TEXT_MAX: Final = 300  # errors and readings kept for a person, not for analysis

_SCHEMA = """
CREATE TABLE IF NOT EXISTS components (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    since_wall_ms INTEGER NOT NULL, updated_wall_ms INTEGER NOT NULL,
    pid INTEGER, pid_started TEXT, restarts INTEGER NOT NULL DEFAULT 0,
    last_unclean_end_wall_ms INTEGER);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY, component TEXT NOT NULL, state TEXT NOT NULL,
    since_wall_ms INTEGER, last_error TEXT, last_error_wall_ms INTEGER,
    last_good TEXT, last_good_stream TEXT, last_good_wall_ms INTEGER,
    updated_wall_ms INTEGER NOT NULL);
"""


def state_path(log_path: str | os.PathLike[str]) -> Path:
    """The state file of the device whose log is `log_path` (beside it: same disk, same
    owner, one per device in a simulated fleet)."""
    p = Path(log_path)
    return p.with_name(p.stem + ".state.sqlite")


def source_of(stream: str) -> str:
    """`env/bme280@0x76` and `health/bme280@0x76` are both the source `bme280@0x76`."""
    return stream.split("/", 1)[1] if "/" in stream else stream


def health_verdict(payload: Mapping[str, Any]) -> str | None:
    """ "faulty", "ok", or None when this health payload does not decide."""
    event = payload.get("event")
    if event in FAULT_EVENTS:
        return "faulty"
    if event in CLEAR_EVENTS:
        return "ok"
    state = payload.get("state")
    return state if state in ("ok", "faulty") else None


def _error_text(payload: Mapping[str, Any]) -> str:
    """`OSError: [Errno 121] Remote I/O error (0x44)`: the error class, then whatever else the
    record says that the text does not already."""
    text = ""
    for key in ("detail", "reason"):
        value = str(payload.get(key) or "")
        if value and value not in text:
            text = f"{text} {value}".strip()
    error = str(payload.get("error") or "")
    if error and error not in text:
        text = f"{error}: {text}" if text else error
    errno = payload.get("errno")
    if errno is not None and str(errno) not in text:
        text += f" (errno {errno})"
    return (text or str(payload.get("event", "fault")))[:_TEXT_MAX]


_FAULTY: Final = "faulty: "


def _faulty_reason(sources: Sequence[str]) -> str:
    return _FAULTY + ", ".join(sources)


def _compact(payload: Mapping[str, Any] | None) -> str | None:
    if payload is None:
        return None
    return json.dumps(payload, separators=(",", ":"), default=str)[:_TEXT_MAX]


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), to tell a process from
    a later one that reuses its id; None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # after the name, which may hold spaces


def process_alive(pid: int | None, started: str | None) -> bool | None:
    """True / False, or None when this machine cannot tell (no /proc, no pid)."""
    if pid is None:
        return None
    if not Path("/proc/self/stat").exists():
        return None
    now = process_start(pid)
    return now is not None and (started is None or now == started)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
    conn.row_factory = sqlite3.Row
    return conn


@dataclass
class _Source:
    state: str = "unknown"
    since_wall_ms: int | None = None
    last_error: str | None = None
    last_error_wall_ms: int | None = None
    last_good: Mapping[str, Any] | None = None  # serialised when written
    last_good_stream: str | None = None
    last_good_wall_ms: int | None = None
    dirty: bool = False


class Reporter:
    """One component's voice in the state file. Every method is safe to call from any thread
    and never raises: a write that fails is logged once per kind and counted in `errors`."""

    def __init__(
        self,
        log_path: str | os.PathLike[str],
        component: str,
        clock: Clock | None = None,
        *,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.path = state_path(log_path)
        self.component = component
        self.clock = clock or host_clock()
        self.errors = 0
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._last_flush_ms = 0
        self._state = ""
        self._reason = ""
        self._stop = threading.Event()
        self._heartbeat_s = heartbeat_s
        self._heart: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = _connect(self.path, readonly=False)
        except (sqlite3.Error, OSError) as exc:
            self._failed("open", exc)
        self._set(STARTING, "", start=True)

    # ------------------------------------------------------------------ component state
    def running(self) -> None:
        """Up and working; degraded instead while one of its sources is faulty."""
        faulty = self._faulty()
        if faulty:
            self.degraded(_faulty_reason(faulty))
        else:
            self._set(RUNNING, "")
        if self._heart is None and self._heartbeat_s > 0:
            self._heart = threading.Thread(target=self._beat, name="state-heartbeat", daemon=True)
            self._heart.start()

    def degraded(self, reason: str) -> None:
        self._set(DEGRADED, reason[:_TEXT_MAX])

    def stopping(self, reason: str = "") -> None:
        self._set(STOPPING, reason[:_TEXT_MAX])

    def stopped(self, reason: str = "") -> None:
        """The last word of a clean exit (the reader tells it from a kill by this)."""
        self._last_word(STOPPED, reason)

    def failed(self, reason: str) -> None:
        """The last word of an exit on an error (bad configuration, no bus, ...)."""
        self._last_word(ERRORED, reason)

    def _last_word(self, state: str, reason: str) -> None:
        self._stop.set()
        self.flush()
        self._set(state, reason[:_TEXT_MAX])
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _set(self, state: str, reason: str, *, start: bool = False) -> None:
        now = self.clock.wall_ms()
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                prev = self._conn.execute(
                    "SELECT state, since_wall_ms, updated_wall_ms, pid, pid_started, restarts,"
                    " last_unclean_end_wall_ms FROM components WHERE name=?",
                    (self.component,),
                ).fetchone()
                since = now
                restarts = prev["restarts"] if prev else 0
                unclean = prev["last_unclean_end_wall_ms"] if prev else None
                if start and prev is not None:
                    restarts += 1
                    if prev["state"] not in (STOPPED, ERRORED):  # ended without a word
                        unclean = prev["updated_wall_ms"]
                elif prev is not None and prev["state"] == state and not start:
                    since = prev["since_wall_ms"]
                pid = os.getpid()
                self._conn.execute(
                    "INSERT OR REPLACE INTO components (name, state, reason, since_wall_ms,"
                    " updated_wall_ms, pid, pid_started, restarts, last_unclean_end_wall_ms)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        self.component,
                        state,
                        reason,
                        since,
                        now,
                        pid,
                        process_start(pid),
                        restarts,
                        unclean,
                    ),
                )
                self._conn.execute("COMMIT")
                self._state, self._reason = state, reason
            except (sqlite3.Error, OSError) as exc:
                self._rollback()
                self._failed("state", exc)

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            self.flush()
            with self._lock:
                if self._conn is None:
                    return
                try:
                    self._conn.execute(
                        "UPDATE components SET updated_wall_ms=? WHERE name=?",
                        (self.clock.wall_ms(), self.component),
                    )
                except (sqlite3.Error, OSError) as exc:
                    self._failed("heartbeat", exc)

    # ------------------------------------------------------------------ sources
    def note_records(self, records: Iterable[Any]) -> None:
        """Records the log has just committed (anything with stream, cls, payload, wall_ms):
        health records decide a source's state, raw readings and events are its last good
        reading. Health changes are written at once, readings at most every few seconds."""
        now = self.clock.wall_ms()
        changed = False
        with self._lock:
            for rec in records:
                cls = rec.cls
                if cls not in ("health", "raw", "event"):
                    continue
                wall = rec.wall_ms if rec.wall_ms is not None else now
                src = self._sources.setdefault(source_of(rec.stream), _Source())
                if src.state == "unknown" and (
                    cls != "health" or health_verdict(rec.payload) is None
                ):
                    # A good reading (or a report that says nothing of faults) from a source
                    # never seen faulty: it works. A fault is only ever cleared by a recovery.
                    src.state, src.since_wall_ms, src.dirty = "ok", wall, True
                    changed = True
                if cls == "health":
                    verdict = health_verdict(rec.payload)
                    if rec.payload.get("event") in FAULT_EVENTS:  # not the periodic report
                        src.last_error = _error_text(rec.payload)
                        src.last_error_wall_ms = wall
                    if verdict is not None and verdict != src.state:
                        src.state, src.since_wall_ms = verdict, wall
                        changed = True
                    src.dirty = src.dirty or verdict is not None
                else:
                    src.last_good = rec.payload
                    src.last_good_stream, src.last_good_wall_ms = rec.stream, wall
                    src.dirty = True
        if changed or now - self._last_flush_ms >= READING_FLUSH_S * 1000:
            self.flush()
        if changed:
            self._follow_sources()

    def _follow_sources(self) -> None:
        """A component with a faulty source is degraded, and says which; running again once
        every source is fine."""
        faulty = self._faulty()
        state = self._state
        if faulty and state in (RUNNING, DEGRADED):
            self.degraded(_faulty_reason(faulty))
        elif not faulty and state == DEGRADED and self._reason.startswith(_FAULTY):
            self._set(RUNNING, "")

    def _faulty(self) -> list[str]:
        with self._lock:
            return sorted(s for s, v in self._sources.items() if v.state == "faulty")

    def flush(self) -> None:
        now = self.clock.wall_ms()
        with self._lock:
            dirty = [(k, v) for k, v in self._sources.items() if v.dirty]
            if self._conn is None or not dirty:
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                for source, v in dirty:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO sources (source, component, state, since_wall_ms,"
                        " last_error, last_error_wall_ms, last_good, last_good_stream,"
                        " last_good_wall_ms, updated_wall_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (
                            source,
                            self.component,
                            v.state,
                            v.since_wall_ms,
                            v.last_error,
                            v.last_error_wall_ms,
                            _compact(v.last_good),
                            v.last_good_stream,
                            v.last_good_wall_ms,
                            now,
                        ),
                    )
                    v.dirty = False
                self._conn.execute("COMMIT")
                self._last_flush_ms = now
            except (sqlite3.Error, OSError) as exc:
                self._rollback()
                self._failed("sources", exc)

    def watch(self, log_: Any) -> WatchedLog:
        """`log_` with every append also noted here (after the commit, so a refused record is
        never shown as a good reading)."""
        return WatchedLog(log_, self)

    # ------------------------------------------------------------------ failures
    def _rollback(self) -> None:
        try:
            if self._conn is not None and self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is unusable; _failed below says so

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.error(
                "event=state_write_failed what=%s path=%s errors=%d reason=%r",
                what,
                self.path,
                self.errors,
                exc,
            )


class RecordSink(Protocol):
    """Where a producing service writes its records: the Log, or the Log as a WatchedLog."""

    def append_records(self, records: Sequence[NewRecord]) -> object: ...


class WatchedLog:
    """A Log whose appends are also shown to a Reporter; everything else is the Log's own."""

    def __init__(self, log_: Any, reporter: Reporter) -> None:
        self._log = log_
        self._reporter = reporter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)

    def __enter__(self) -> WatchedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self._log.close()

    def _note(self, records: Iterable[Any]) -> None:
        try:
            self._reporter.note_records(records)
        except Exception:  # the state file must never cost a reading
            self._reporter.errors += 1
            log.exception("event=state_note_failed")

    def append(self, stream: str, cls: str, payload: Mapping[str, Any], **kw: Any) -> Any:
        out = self._log.append(stream, cls, payload, **kw)
        self._note([_Seen(stream, cls, payload, kw.get("wall_ms"))])
        return out

    def append_batch(
        self, stream: str, cls: str, payloads: Sequence[Mapping[str, Any]], **kw: Any
    ) -> Any:
        out = self._log.append_batch(stream, cls, payloads, **kw)
        # Every health record may decide; of readings only the last one matters.
        shown = payloads if cls == "health" else payloads[-1:]
        self._note([_Seen(stream, cls, p, kw.get("wall_ms")) for p in shown])
        return out

    def append_records(self, records: Sequence[Any], **kw: Any) -> Any:
        out = self._log.append_records(records, **kw)
        self._note(records)
        return out


@dataclass(frozen=True)
class _Seen:
    stream: str
    cls: str
    payload: Mapping[str, Any]
    wall_ms: int | None


# ---------------------------------------------------------------------- the reading side
@dataclass(frozen=True)
class Board:
    """What the state file holds, as plain rows (dicts of its columns)."""

    components: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    problem: str | None = None  # why nothing could be read


def read_board(log_path: str | os.PathLike[str]) -> Board:
    """The state file beside `log_path`, read-only; never creates it. Each component row also
    gets `alive` (True / False / None: cannot tell) from its process id."""
    path = state_path(log_path)
    if not path.exists():
        return Board(
            [],
            [],
            f"no {path.name}: no component has started since this floorline version was installed",
        )
    try:
        conn = _connect(path, readonly=True)
        try:
            comps = [dict(r) for r in conn.execute("SELECT * FROM components ORDER BY name")]
            srcs = [dict(r) for r in conn.execute("SELECT * FROM sources ORDER BY source")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Board([], [], f"cannot read {path}: {exc}")
    for c in comps:
        c["alive"] = process_alive(c["pid"], c["pid_started"])
    return Board(comps, srcs)
