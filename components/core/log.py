"""The durable edge log: one SQLite file shared by every floorline process on a device.

Guarantee (stated the way Vector states its sink guarantees):

* **Durable on return.** `append*` returns only after the transaction is committed in WAL mode
  with `synchronous=FULL`: the WAL is fsynced at every commit, so a record whose append returned
  survives a process kill and a power cut. A record whose append did not return may or may not
  be there, and if it is, it is there exactly once with a valid sequence number.
* **Identity.** Every record gets `(device, stream, seq)`; `seq` is gapless per (device,
  stream), assigned in the committing transaction, and never reused (not after a restart,
  not after a corrupt file is salvaged: numbers stay below a mark kept beside the file,
  `seqmark.py`, and a salvage resumes above it).
* **At-least-once to each consumer.** A named consumer reads past its durable offset and
  acknowledges after its own work is committed; a crash between the two re-delivers.
* **Bounded.** A byte budget (database pages in use plus the WAL) and a free-disk floor. A new
  record may push out only records of its own or a lower priority (raw < health < aggregate <
  event < alert), oldest first; if that is not enough the append raises `BudgetExceeded`
  (the caller counts it; HTTP ingest turns it into 429). Every eviction is recorded with the
  exact sequence range it removed, so nothing is ever dropped silently.

Layout: one table per record class (so eviction and consumption are prefix deletes on the
rowid, with no secondary index to pay for), a `streams` table that owns the sequence counters
and a per-stream field list (records whose keys match it are stored as a bare JSON array, which
keeps a scalar reading near 30 bytes on disk).
"""

from __future__ import annotations

import errno
import json
import logging
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from components.core.clock import Clock, SyncAnchor, SyncDetector, SystemClock
from components.core.envelope import (
    CLASSES,
    DRAIN_ORDER,
    EVICTION_ORDER,
    SCHEMA_VERSION,
    Identity,
    Record,
    validate_class,
    validate_device,
    validate_stream,
)
from components.core.log_file import (
    SQLITE_READONLY_DBMOVED,
    closed_here,
    move_aside,
    opened_here,
    opening_lock,
    pending_salvage,
    salvage_done,
)
from components.core.log_file import (
    check as check_file,
)
from components.core.log_file import (
    identity as file_identity,
)
from components.core.log_rows import (
    body_item,
    body_items,
    decode_bodies,
    encode_items,
    encode_json,
    in_position_order,
    make_records,
    payloads_of,
)
from components.core.seqmark import (
    RESERVE_BLOCK,
    SeqMarkDamaged,
    mark_path,
    read_mark,
    write_mark,
)

log = logging.getLogger("floorline.log")

LOG_FORMAT_VERSION = 1
_RANK = {cls: i for i, cls in enumerate(EVICTION_ORDER)}
_TABLE = {cls: f"rec_{cls}" for cls in CLASSES}
# The table holding each record class, for read-only tools (verify, export) that query it.
CLASS_TABLES: dict[str, str] = dict(_TABLE)
# A run (one stream, one timestamp) is inserted in one statement: SQLite splits the JSON array
# of its bodies itself, so no Python work or statement step is spent per record. The key is
# the array index, and json_each yields the elements in array order.
_INSERT_RUN = {
    cls: f"INSERT INTO {table}(sid,seq,mono_ns,wall_ms,clock,schema,body) "
    "SELECT ?, ?+key, ?, ?, ?, ?, value FROM json_each(?)"
    for cls, table in _TABLE.items()
}
# A read fetches each column of up to `limit` rows as one JSON array (sid, clock and schema as
# one number when every row has the same): fetching rows costs more than parsing arrays.
_ALL = "'['||group_concat({c})||']'"
_SAME_OR_ALL = f"CASE WHEN min({{c}}) = max({{c}}) THEN min({{c}}) ELSE {_ALL} END"
_READ_COLUMNS = {
    cls: "SELECT count(*), "
    + ", ".join(_ALL.format(c=c) for c in ("pos", "seq", "mono_ns", "wall_ms", "body"))
    + ", "
    + ", ".join(_SAME_OR_ALL.format(c=c) for c in ("sid", "clock", "schema"))
    + f" FROM (SELECT * FROM {table} WHERE pos>? ORDER BY pos LIMIT ?)"
    for cls, table in _TABLE.items()
}
_PAGES = "SELECT page_count, freelist_count FROM pragma_page_count(), pragma_freelist_count()"
# Records of several streams or timestamps: one [sid, seq, mono_ns, wall_ms, body] per record.
_INSERT_MIXED = {
    cls: f"INSERT INTO {table}(sid,seq,mono_ns,wall_ms,clock,schema,body) "
    "SELECT json_extract(value,'$[0]'), json_extract(value,'$[1]'), json_extract(value,'$[2]'),"
    " json_extract(value,'$[3]'), ?, ?, json_extract(value,'$[4]') FROM json_each(?)"
    for cls, table in _TABLE.items()
}


_JSON = encode_json
_loads = json.JSONDecoder().decode
# Eviction deletes the oldest rows in chunks that start small (little overshoot for a
# trickle of appends) and double while the shortfall persists (few statements for a flood).
_EVICT_FIRST_CHUNK_ROWS = 32
_EVICT_MAX_CHUNK_ROWS = 8192
# Idempotency keys older than this may be pruned, a bounded number per commit.
_KEY_PRUNE_ROWS = 256
_T = TypeVar("_T")


class LogError(Exception):
    """Base class of the log's errors."""


class BudgetExceeded(LogError):
    """The log is full of records this append may not push out."""

    def __init__(self, message: str, cls: str, used_bytes: int, budget_bytes: int) -> None:
        super().__init__(message)
        self.cls = cls
        self.used_bytes = used_bytes
        self.budget_bytes = budget_bytes


class StreamClassMismatch(LogError):
    """A stream carries exactly one record class; the stream name says which kind it is."""


class UnknownConsumer(LogError):
    pass


class NewRecord(NamedTuple):
    """A record to append; identity and (unless given) timestamps are assigned by the log.
    (A named tuple: high-rate producers create hundreds of thousands of these.)"""

    stream: str
    cls: str
    payload: Mapping[str, Any]
    device: str | None = None
    mono_ns: int | None = None
    wall_ms: int | None = None


class _Run(NamedTuple):
    """Consecutive records of one stream with the same timestamps (None: now)."""

    device: str
    stream: str
    cls: str
    payloads: list[Any]
    mono_ns: int | None
    wall_ms: int | None


def _runs(records: Iterable[NewRecord], default_device: str) -> list[_Run]:
    runs: list[_Run] = []
    last: tuple[Any, ...] | None = None
    payloads: list[Any] = []
    for r in records:
        key = (r.device or default_device, r.stream, r.cls, r.mono_ns, r.wall_ms)
        if key != last:
            payloads = []
            runs.append(_Run(key[0], key[1], key[2], payloads, key[3], key[4]))
            last = key
        payloads.append(r.payload)
    return runs


@dataclass(frozen=True, slots=True)
class KeyedAppend:
    """Records written at most once per `key`: a later append with the same key writes
    nothing and gets the identities the first one got. `key=None` appends unconditionally.
    `fingerprint` (e.g. a digest of the request) is stored with the key so a caller can tell
    a true retry from a reused key."""

    key: str | None
    records: Sequence[NewRecord]
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class KeyedResult:
    identities: list[Identity]
    replayed: bool  # the key was known: nothing was written, these are the earlier identities
    fingerprint: str  # the fingerprint stored with the key


_CLS_OF = operator.attrgetter("cls")


class ReadBatch(list[Record]):
    """Records handed to a consumer, with the log positions needed to acknowledge them."""

    def __init__(self, records: Iterable[Record] = (), positions: Iterable[int] = ()) -> None:
        super().__init__(records)
        self.positions: list[int] = list(positions)

    def cursor(self) -> dict[str, int]:
        """Highest position per class in this batch."""
        if len(self.positions) != len(self):
            raise ValueError(f"{len(self)} records but {len(self.positions)} positions")
        classes = set(map(_CLS_OF, self))
        if len(classes) == 1:  # the usual batch: one class, no loop in Python
            return {classes.pop(): max(self.positions)}
        out: dict[str, int] = {}
        for rec, pos in zip(self, self.positions, strict=True):
            if pos > out.get(rec.cls, 0):
                out[rec.cls] = pos
        return out


@dataclass
class _Stream:
    sid: int
    device: str
    stream: str
    cls: str
    fields: tuple[str, ...] | None


@dataclass
class _Counters:
    rejected: dict[str, int] = field(default_factory=dict)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams(
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    stream TEXT NOT NULL,
    cls TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    fields TEXT,
    UNIQUE(device, stream)
);
CREATE TABLE IF NOT EXISTS consumers(
    name TEXT NOT NULL,
    cls TEXT NOT NULL,
    acked_pos INTEGER NOT NULL,
    acked_wall_ms INTEGER,
    PRIMARY KEY(name, cls)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evictions(
    id INTEGER PRIMARY KEY,
    sid INTEGER NOT NULL,
    cls TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seq_skips(
    id INTEGER PRIMARY KEY,
    sid INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS epochs(
    id INTEGER PRIMARY KEY,
    boot_id TEXT NOT NULL UNIQUE,
    anchor_mono_ns INTEGER,
    anchor_wall_ms INTEGER
);
CREATE TABLE IF NOT EXISTS idempotency(
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    identities TEXT NOT NULL,
    wall_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine(
    id INTEGER PRIMARY KEY,
    reason TEXT NOT NULL,
    body TEXT NOT NULL,
    wall_ms INTEGER NOT NULL
);
""" + "".join(
    # clock: 0 when the wall clock was synced, else the epoch (boot) whose anchor corrects it.
    f"""CREATE TABLE IF NOT EXISTS {table}(
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    sid INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    mono_ns INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    clock INTEGER NOT NULL,
    schema INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""
    for table in _TABLE.values()
)


CHECKPOINTS_SQL = (
    "CREATE TABLE IF NOT EXISTS checkpoints(name TEXT PRIMARY KEY, body TEXT NOT NULL, "
    "wall_ms INTEGER NOT NULL)"
)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        # No /proc (macOS): a monotonic clock that restarts from zero is a new boot.
        return f"boot-{int(time.time() - time.monotonic())}"


class Log:
    """See the module docstring. Open with `Log.open(path, device=...)`."""

    def __init__(
        self,
        path: Path,
        *,
        device: str,
        budget_bytes: int,
        free_floor_bytes: int,
        clock: Clock,
        boot_id: str,
        busy_timeout_s: float,
    ) -> None:
        self.path = path
        self.device = validate_device(device)
        self.budget_bytes = budget_bytes
        self.free_floor_bytes = free_floor_bytes
        self._clock = clock
        self._boot_id = boot_id
        self._busy_timeout_s = busy_timeout_s
        self._sync = SyncDetector(clock)
        self._lock = threading.RLock()
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._by_sid: dict[int, _Stream] = {}
        self._new_sids: list[int] = []
        self._vacuum_after_commit = False
        self._counters = _Counters()
        self._unpersisted: dict[str, int] = {}  # refusals counted while the disk was full
        self._dir = str(path.parent)
        self._wal_path = f"{path}-wal"
        self._mark_path = mark_path(path)
        self._ident: tuple[int, int] | None = None
        # New streams start above this; every number handed out is at most `_reserved`.
        self._seq_floor = 0
        self._reserved = 0
        with self._lock:
            self._open_locked()

    def _open_locked(self) -> None:
        """Check, salvage if damaged, and connect, with no other process doing the same."""
        p = self.path
        with opening_lock(p):
            salvage_from = pending_salvage(p)
            if salvage_from is None and p.exists() and p.stat().st_size > 0:
                problem = check_file(p, self._busy_timeout_s)
                if problem is not None:
                    salvage_from = move_aside(p, self._busy_timeout_s)
                    log.error(
                        "event=log_corrupt path=%s moved_to=%s problem=%r",
                        p,
                        salvage_from,
                        problem,
                    )
            self._attach(_connect(p, self._busy_timeout_s))
            self._reconcile_mark()
            if salvage_from is not None:
                from components.core.salvage import salvage_into

                report = salvage_into(self, salvage_from)
                self._record_salvage(salvage_from, report)
                salvage_done(p)

    def _attach(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ident = file_identity(self.path)
        if self._ident is not None:
            opened_here(self._ident)
        self._streams.clear()
        self._by_sid.clear()
        self._new_sids.clear()
        self._page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        # Checkpoint and truncate the WAL well before it could eat a large part of the budget.
        # (A sixteenth of the budget or of the filesystem, whichever is smaller.)
        try:
            st = os.statvfs(self.path.parent)
            room = min(self.budget_bytes, st.f_blocks * st.f_frsize)
        except OSError:
            room = self.budget_bytes
        wal_reserve = max(64 * 1024, min(room // 16, 16 * 1024 * 1024))
        conn.execute(f"PRAGMA wal_autocheckpoint={max(16, wal_reserve // self._page_size)}")
        conn.execute(f"PRAGMA journal_size_limit={wal_reserve}")
        self._wal_reserve = wal_reserve
        self._epoch = self._ensure_epoch(self._boot_id)

    def _detach(self) -> None:
        if self._ident is not None:
            closed_here(self._ident)
            self._ident = None
        self._conn.close()

    def _reconcile_mark(self) -> None:
        """At open: make the mark beside the file cover every number this file handed out,
        and start a file that never met the mark (new, or put where a log was) above it."""
        try:
            mark = read_mark(self._mark_path)
        except SeqMarkDamaged as exc:
            log.error("event=seqmark_damaged error=%s", exc)
            mark = None
        c = self._begin()
        try:
            meta = dict(
                c.execute(
                    "SELECT key, value FROM meta WHERE key IN ('seq_reserved', 'seq_floor')"
                ).fetchall()
            )
            issued = c.execute("SELECT coalesce(max(next_seq) - 1, 0) FROM streams").fetchone()[0]
            floor = int(meta.get("seq_floor", 0))
            if "seq_reserved" not in meta and issued == 0 and mark:
                floor = mark
                self._set_meta("seq_floor", floor)
            self._seq_floor = floor
            self._reserved = int(meta.get("seq_reserved", 0))
            self._reserve(max(issued, floor, self._reserved), mark)
            c.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _reserve(self, top: int, on_disk: int | None = None) -> None:
        """Inside a write transaction: make sure the mark on disk is at least `top` before
        any number up to `top` can commit (written ahead by a block, and never lowered)."""
        c = self._conn
        row = c.execute("SELECT value FROM meta WHERE key='seq_reserved'").fetchone()
        current = int(row[0]) if row else 0
        if row is None or current < top:
            if on_disk is None:
                try:
                    on_disk = read_mark(self._mark_path)
                except SeqMarkDamaged as exc:
                    log.error("event=seqmark_damaged error=%s", exc)
            if on_disk is None or on_disk < max(top, current):
                on_disk = max(top, current) + RESERVE_BLOCK
                write_mark(self._mark_path, on_disk)
            current = on_disk
            self._set_meta("seq_reserved", current)
        self._reserved = current

    def _set_meta(self, key: str, value: object) -> None:
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, str(value)),
        )

    def _begin(self) -> sqlite3.Connection:
        """BEGIN IMMEDIATE on the file that is the log now. If another process moved a damaged
        file aside since this one opened it, reopen (waiting for its salvage) rather than
        write where nothing reads. Returns the connection in the transaction."""
        for _ in range(5):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) != SQLITE_READONLY_DBMOVED:
                    raise
            else:
                if file_identity(self.path) == self._ident:
                    return self._conn
                self._conn.execute("ROLLBACK")
            log.warning("event=log_reopened path=%s reason=file_replaced", self.path)
            self._detach()
            self._open_locked()
        raise LogError(f"{self.path} keeps being replaced while opening it")

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str,
        budget_bytes: int = 256 * 1024 * 1024,
        free_floor_bytes: int = 64 * 1024 * 1024,
        clock: Clock | None = None,
        boot_id: str | None = None,
        busy_timeout_s: float = 30.0,
    ) -> Log:
        """Open (creating if needed) the log at `path`; a damaged file is moved aside and
        salvaged into a fresh log, never deleted. Opening processes wait for one another, so
        one salvage happens while the others wait. A file this user may not read or write
        raises PermissionError and is left as it is."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return cls(
            p,
            device=device,
            budget_bytes=budget_bytes,
            free_floor_bytes=free_floor_bytes,
            clock=clock or SystemClock(),
            boot_id=boot_id or _boot_id(),
            busy_timeout_s=busy_timeout_s,
        )

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.OperationalError as exc:  # busy with another process: harmless
                log.debug("event=checkpoint_skipped reason=%r", exc)
            self._detach()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def append(
        self,
        stream: str,
        cls: str,
        payload: Mapping[str, Any],
        *,
        device: str | None = None,
        mono_ns: int | None = None,
        wall_ms: int | None = None,
    ) -> int:
        """Append one record and commit it durably; returns its sequence number."""
        return self.append_batch(
            stream, cls, [payload], device=device, mono_ns=mono_ns, wall_ms=wall_ms
        )[0]

    def append_batch(
        self,
        stream: str,
        cls: str,
        payloads: Sequence[Mapping[str, Any]],
        *,
        device: str | None = None,
        mono_ns: int | None = None,
        wall_ms: int | None = None,
    ) -> list[int]:
        """Append many records of one stream in a single durable transaction."""
        run = _Run(device or self.device, stream, cls, list(payloads), mono_ns, wall_ms)
        if not run.payloads:
            return []
        with self._lock:
            return self._write(len(run.payloads), cls, lambda: self._insert([run], True))

    def append_records(
        self,
        records: Sequence[NewRecord],
        *,
        may_evict_own_class: bool = True,
        ack: tuple[str, Mapping[str, int]] | None = None,
        checkpoint: Mapping[str, str] | None = None,
    ) -> list[int]:
        """Append records (any streams) in one transaction; returns their sequence numbers.

        `ack=(consumer, cursor)` and `checkpoint={name: text, ...}` commit in the same
        transaction, so a consumer that derives records from its input can never emit them
        twice or lose its state across a crash.

        Raises BudgetExceeded (nothing written) if the log is full of records these may not
        push out; EnvelopeError (nothing written) for a bad stream, class, device or payload.
        """
        if not records and ack is None and not checkpoint:
            return []

        runs = _runs(records, self.device)

        def body() -> list[int]:
            seqs = self._insert(runs, may_evict_own_class) if runs else []
            now = self._clock.wall_ms()
            if ack is not None:
                self._ack_rows(ack[0], ack[1], now)
            if checkpoint:
                self._conn.execute(CHECKPOINTS_SQL)  # created on first use
                self._conn.executemany(
                    "INSERT INTO checkpoints(name, body, wall_ms) VALUES (?,?,?) ON CONFLICT"
                    "(name) DO UPDATE SET body=excluded.body, wall_ms=excluded.wall_ms",
                    [(name, text, now) for name, text in checkpoint.items()],
                )
            return seqs

        with self._lock:
            return self._write(len(records), records[0].cls if records else None, body)

    def append_keyed(
        self,
        groups: Sequence[KeyedAppend],
        *,
        may_evict_own_class: bool = True,
        key_retention_s: float = 86_400.0,
        max_keys: int = 100_000,
        count_refusals: bool = True,
    ) -> list[KeyedResult]:
        """Append groups of records in one transaction, each at most once per idempotency key.

        The keys are stored in the same transaction as the records, so a crash can never keep
        one without the other. A known key (stored earlier, or earlier in `groups`) writes
        nothing and returns the identities first assigned. Keys are kept at least
        `key_retention_s` (wall time) unless more than `max_keys` exist; the oldest go first.
        Errors as `append_records` (nothing written, no key stored). `count_refusals=False`
        is for a caller that will retry the groups one by one after a refusal (group commit):
        only those retries are counted.
        """
        with self._lock:
            fresh = [r for g in groups if self._known(g.key) is None for r in g.records]
            return self._write(
                len(fresh),
                fresh[0].cls if fresh else None,
                lambda: self._insert_keyed(
                    groups, may_evict_own_class, int(key_retention_s * 1000), max_keys
                ),
                count_refusals,
            )

    def _known(self, key: str | None) -> tuple[str, str] | None:
        if key is None:
            return None
        return self._conn.execute(
            "SELECT fingerprint, identities FROM idempotency WHERE key=?", (key,)
        ).fetchone()

    def _insert_keyed(
        self, groups: Sequence[KeyedAppend], may_evict: bool, retention_ms: int, max_keys: int
    ) -> list[KeyedResult]:
        """Inside the write transaction: the records of unknown keys, then the keys."""
        results: list[KeyedResult | None] = []
        first_of: dict[str, int] = {}  # key -> index of the group that writes it
        fresh: list[NewRecord] = []
        spans: list[tuple[int, int, int]] = []  # group index, first, end in `fresh`
        for i, g in enumerate(groups):
            stored = self._known(g.key)
            if stored is not None:
                ids = [(d, s, q) for d, s, q in _loads(stored[1])]
                results.append(KeyedResult(ids, True, stored[0]))
            elif g.key is not None and g.key in first_of:
                results.append(None)  # a repeat within this call: filled in below
            else:
                if g.key is not None:
                    first_of[g.key] = i
                spans.append((i, len(fresh), len(fresh) + len(g.records)))
                fresh.extend(g.records)
                results.append(None)
        seqs = self._insert(_runs(fresh, self.device), may_evict) if fresh else []
        now = self._clock.wall_ms()
        keyed_rows = []
        for i, lo, hi in spans:
            ids = [
                (r.device or self.device, r.stream, seq)
                for r, seq in zip(fresh[lo:hi], seqs[lo:hi], strict=True)
            ]
            g = groups[i]
            results[i] = KeyedResult(ids, False, g.fingerprint)
            if g.key is not None:
                keyed_rows.append((g.key, g.fingerprint, _JSON(ids), now))
        for i, g in enumerate(groups):
            if results[i] is None:
                first = results[first_of[g.key]]  # type: ignore[index]
                assert first is not None
                results[i] = KeyedResult(first.identities, True, first.fingerprint)
        if keyed_rows:
            c = self._conn
            c.executemany(
                "INSERT INTO idempotency(key, fingerprint, identities, wall_ms) VALUES (?,?,?,?)",
                keyed_rows,
            )
            c.execute(
                "DELETE FROM idempotency WHERE id <= (SELECT max(id) FROM idempotency) - ?",
                (max_keys,),
            )
            c.execute(
                "DELETE FROM idempotency WHERE id IN "
                "(SELECT id FROM idempotency ORDER BY id LIMIT ?) AND wall_ms < ?",
                (_KEY_PRUNE_ROWS, now - retention_ms),
            )
        return [r for r in results if r is not None]

    def _write(
        self,
        n_records: int,
        first_cls: str | None,
        body: Callable[[], _T],
        count_refusals: bool = True,
    ) -> _T:
        """Run `body` in one write transaction (the caller holds the lock); on a refusal,
        count the `n_records` records it was writing as refused."""
        c = self._begin()
        try:
            result = body()
            if self._unpersisted:
                self._persist_refusals()
            c.execute("COMMIT")
            self._unpersisted.clear()
        except BudgetExceeded as exc:
            self._rollback()
            if count_refusals:
                self._count_refusal(exc.cls, n_records)
            raise
        except (sqlite3.OperationalError, OSError) as exc:
            self._rollback()
            # The filesystem filled before the floor caught it (another program wrote): SQLite
            # says so, or the sequence mark could not be written.
            disk_full = (
                "full" in str(exc)
                if isinstance(exc, sqlite3.OperationalError)
                else exc.errno in (errno.ENOSPC, errno.EDQUOT)
            )
            if not disk_full or first_cls is None:
                raise
            if count_refusals:
                self._count_refusal(first_cls, n_records)
            raise BudgetExceeded(
                f"disk full: {exc}", cls=first_cls, used_bytes=-1, budget_bytes=self.budget_bytes
            ) from exc
        except BaseException:
            self._rollback()
            raise
        self._new_sids.clear()
        if self._vacuum_after_commit:
            self._vacuum_after_commit = False
            self._conn.execute("PRAGMA incremental_vacuum")
        return result

    def _insert(self, runs: Sequence[_Run], may_evict_own_class: bool) -> list[int]:
        """Inside the write transaction: insert the runs' records, assigning their sequence
        numbers (in record order); returns them."""
        synced, anchor = self._sync.check()
        clock_col = 0 if synced else self._epoch
        now_mono, now_wall = self._clock.monotonic_ns(), self._clock.wall_ms()
        if anchor is not None:
            self._store_anchor(anchor)
        streams: list[_Stream] = []
        counts: dict[int, int] = {}
        for run in runs:
            st = self._stream_for(run.device, run.stream, run.cls, run.payloads[0])
            streams.append(st)
            counts[st.sid] = counts.get(st.sid, 0) + len(run.payloads)
        # The counters are read and advanced here, under the write lock: another process may
        # have appended to the same streams since our last batch.
        next_seq = {sid: self._take_seqs(sid, n) for sid, n in counts.items()}
        top = max(next_seq[sid] + n - 1 for sid, n in counts.items())
        if top > self._reserved:
            self._reserve(top)
        seqs: list[int] = []
        by_cls: dict[str, list[tuple[_Stream, _Run, int]]] = {}
        for st, run in zip(streams, runs, strict=True):
            first = next_seq[st.sid]
            next_seq[st.sid] = first + len(run.payloads)
            seqs.extend(range(first, first + len(run.payloads)))
            by_cls.setdefault(st.cls, []).append((st, run, first))
        statements: dict[str, tuple[str, tuple[Any, ...], int]] = {}
        incoming = 0
        for rec_cls, parts in by_cls.items():
            if len(parts) == 1:
                st, run, first = parts[0]
                text = encode_items(body_items(st.fields, run.payloads), run.payloads)
                params: tuple[Any, ...] = (
                    st.sid,
                    first,
                    now_mono if run.mono_ns is None else run.mono_ns,
                    now_wall if run.wall_ms is None else run.wall_ms,
                    clock_col,
                    SCHEMA_VERSION,
                    text,
                )
                statements[rec_cls] = (_INSERT_RUN[rec_cls], params, len(run.payloads))
            else:
                elements: list[Any] = []
                payloads: list[Any] = []
                for st, run, first in parts:
                    mono = now_mono if run.mono_ns is None else run.mono_ns
                    wall = now_wall if run.wall_ms is None else run.wall_ms
                    if len(run.payloads) == 1:  # records with their own timestamps
                        item = body_item(st.fields, run.payloads[0])
                        elements.append((st.sid, first, mono, wall, item))
                    else:
                        n = len(run.payloads)
                        elements.extend(
                            zip(
                                repeat(st.sid, n),
                                range(first, first + n),
                                repeat(mono, n),
                                repeat(wall, n),
                                body_items(st.fields, run.payloads),
                                strict=True,
                            )
                        )
                    payloads.extend(run.payloads)
                text = encode_items(elements, payloads)
                params = (clock_col, SCHEMA_VERSION, text)
                statements[rec_cls] = (_INSERT_MIXED[rec_cls], params, len(payloads))
            # ~24 bytes of row header and integer columns per record besides its body.
            incoming += len(text) + 24 * statements[rec_cls][2]
        c = self._conn
        for rec_cls in sorted(statements, key=_RANK.__getitem__, reverse=True):
            self._make_room(incoming, rec_cls, may_evict_own_class)
            sql, params, n = statements[rec_cls]
            inserted = c.execute(sql, params).rowcount
            if inserted != n:  # never seen; a JSON split gone wrong must not pass silently
                raise LogError(f"inserted {inserted} of {n} {rec_cls} records; rolled back")
        return seqs

    def _take_seqs(self, sid: int, n: int) -> int:
        """Reserve `n` sequence numbers of stream `sid`; returns the first."""
        rows = self._conn.execute(
            "UPDATE streams SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq - ?",
            (n, sid, n),
        ).fetchall()
        return int(rows[0][0])

    def _rollback(self) -> None:
        if self._conn.in_transaction:  # SQLite may have rolled back itself (disk full)
            self._conn.execute("ROLLBACK")
        self._vacuum_after_commit = False
        # Streams created in a rolled-back transaction do not exist: drop them from the cache.
        for sid in self._new_sids:
            st = self._by_sid.pop(sid, None)
            if st is not None:
                self._streams.pop((st.device, st.stream), None)
        self._new_sids.clear()

    def _stream_for(
        self, device: str, stream: str, cls: str, payload: Mapping[str, Any]
    ) -> _Stream:
        key = (device, stream)
        st = self._streams.get(key)
        if st is None:
            row = self._conn.execute(
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
                cur = self._conn.execute(
                    "INSERT INTO streams(device, stream, cls, next_seq, fields) VALUES (?,?,?,?,?)",
                    (
                        device,
                        stream,
                        cls,
                        self._seq_floor + 1,
                        _JSON(list(fields)) if fields else None,
                    ),
                )
                st = _Stream(cur.lastrowid or 0, device, stream, cls, fields or None)
                self._new_sids.append(st.sid)
                if self._seq_floor:  # started above the mark: 1..mark were never used
                    self._conn.execute(
                        "INSERT INTO seq_skips(sid, first_seq, last_seq, wall_ms) VALUES (?,?,?,?)",
                        (st.sid, 1, self._seq_floor, self._clock.wall_ms()),
                    )
            else:
                st = _Stream(row[0], device, stream, row[1], _fields(row[2]))
            self._streams[key] = st
            self._by_sid[st.sid] = st
        if st.cls != cls:
            raise StreamClassMismatch(
                f"stream {stream!r} of {device!r} carries {st.cls!r} records, not {cls!r}"
            )
        return st

    # ------------------------------------------------------------------ budget
    def used_bytes(self) -> int:
        """Bytes the log occupies now: database pages in use plus the WAL file."""
        return self._db_used_bytes() + self._wal_bytes()

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self._wal_path).st_size
        except FileNotFoundError:
            return 0

    def _pages(self) -> tuple[int, int]:
        """(pages in the file, pages on the free list), as this transaction sees them."""
        page_count, free_pages = self._conn.execute(_PAGES).fetchone()
        return page_count, free_pages

    def _db_used_bytes(self) -> int:
        page_count, free_pages = self._pages()
        return (page_count - free_pages) * self._page_size

    def _limit_bytes(self, page_count: int) -> tuple[int, str]:
        """How many bytes of pages the log may use now, and what sets that limit.

        Deleting rows does not give disk space back by itself: freed pages stay in the file
        for reuse. So below the free-disk floor the file may not grow at all, and evicting
        (then `incremental_vacuum`) is what returns space to the filesystem."""
        budget = self.budget_bytes - self._wal_reserve
        try:
            st = os.statvfs(self._dir)
        except OSError:
            return budget, "budget"
        wal_growth = max(0, self._wal_reserve - self._wal_bytes())  # the WAL may still grow
        disk = (
            page_count * self._page_size
            + st.f_bavail * st.f_frsize
            - self.free_floor_bytes
            - wal_growth
        )
        return (disk, "disk_floor") if disk < budget else (budget, "budget")

    def _make_room(self, incoming: int, cls: str, may_evict_own: bool) -> None:
        """Inside the append transaction: evict until `incoming` bytes fit the limit."""
        page_count, free_pages = self._pages()
        limit, reason = self._limit_bytes(page_count)
        over = (page_count - free_pages) * self._page_size + incoming - limit
        if over <= 0:
            return
        rank = _RANK[cls]
        for victim in EVICTION_ORDER:
            if _RANK[victim] > rank or (victim == cls and not may_evict_own):
                break
            chunk = _EVICT_FIRST_CHUNK_ROWS
            while over > 0 and self._evict_oldest(victim, reason, chunk):
                over = self._db_used_bytes() + incoming - limit
                chunk = min(chunk * 2, _EVICT_MAX_CHUNK_ROWS)
            if over <= 0:
                if reason == "disk_floor":
                    self._vacuum_after_commit = True
                return
        used = self._db_used_bytes()
        raise BudgetExceeded(
            f"log full ({reason}): {used} bytes of pages in use, limit {limit}; no record of "
            f"class {cls!r} or lower may be evicted to fit {incoming} more",
            cls=cls,
            used_bytes=used,
            budget_bytes=self.budget_bytes,
        )

    def _count_refusal(self, cls: str, records: int) -> None:
        """A refused append is counted durably, in its own small transaction; when even that
        cannot commit (the disk itself is full), at the next commit that can."""
        self._counters.rejected[cls] = self._counters.rejected.get(cls, 0) + records
        self._unpersisted[cls] = self._unpersisted.get(cls, 0) + records
        log.warning("event=append_refused cls=%s records=%d reason=log_full", cls, records)
        try:
            self._begin()
            self._persist_refusals()
            self._conn.execute("COMMIT")
            self._unpersisted.clear()
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            log.error("event=refusal_not_persisted_yet cls=%s error=%r", cls, exc)

    def _persist_refusals(self) -> None:
        """Inside a write transaction: the refusals not yet on disk (cleared after COMMIT)."""
        for cls, n in self._unpersisted.items():
            self._bump(f"rejected_full.{cls}", n)

    def _evict_oldest(self, cls: str, reason: str, rows: int) -> bool:
        table = _TABLE[cls]
        row = self._conn.execute(
            f"SELECT pos FROM {table} ORDER BY pos LIMIT 1 OFFSET ?", (rows - 1,)
        ).fetchone()
        if row is None:
            row = self._conn.execute(f"SELECT max(pos) FROM {table}").fetchone()
            if row[0] is None:
                return False
        upto = row[0]
        self._delete_prefix(cls, upto, reason)
        return True

    def _delete_prefix(self, cls: str, upto_pos: int, reason: str | None) -> int:
        """Delete every record of `cls` at or below `upto_pos`; record the ranges if evicted."""
        table = _TABLE[cls]
        if reason is not None:
            now = self._clock.wall_ms()
            ranges = self._conn.execute(
                f"SELECT sid, min(seq), max(seq), count(*) FROM {table} WHERE pos<=? GROUP BY sid",
                (upto_pos,),
            ).fetchall()
            self._conn.executemany(
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
        cur = self._conn.execute(f"DELETE FROM {table} WHERE pos<=?", (upto_pos,))
        return cur.rowcount

    # ------------------------------------------------------------------ consuming
    def register_consumer(self, name: str, classes: Iterable[str] = CLASSES) -> None:
        """A consumer starts at the beginning of what the log still holds (at-least-once)."""
        classes = [validate_class(c) for c in classes]
        with self._lock:
            self._begin()
            try:
                self._conn.executemany(
                    "INSERT OR IGNORE INTO consumers(name, cls, acked_pos) VALUES (?,?,0)",
                    [(name, c) for c in classes],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def unregister_consumer(self, name: str) -> None:
        """Forget a consumer; records only it was holding become free to retire."""
        with self._lock:
            self._begin()
            try:
                self._conn.execute("DELETE FROM consumers WHERE name=?", (name,))
                for cls in CLASSES:
                    self._retire(cls)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def consumers(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name, cls, pos in self._conn.execute("SELECT name, cls, acked_pos FROM consumers"):
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
        with self._lock:
            offsets = self.consumers().get(consumer)
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
        n, *texts = self._conn.execute(_READ_COLUMNS[cls], (after_pos, limit)).fetchone()
        if not n:
            return [], []
        # sid, clock and schema come as one number when every row has the same.
        cols = [[text] * n if type(text) is int else _loads(text) for text in texts]
        positions, seqs, monos, walls, values, sids, clocks, schemas = in_position_order(cols)
        records = self._decode_columns(cls, n, sids, seqs, monos, walls, clocks, schemas, values)
        return records, positions

    def ack(self, consumer: str, batch: ReadBatch) -> None:
        """Acknowledge everything in `batch` (and everything before it, per class)."""
        self.ack_positions(consumer, batch.cursor())

    def ack_positions(self, consumer: str, cursor: Mapping[str, int]) -> None:
        """Advance `consumer` to the given position per class; offsets never move back.
        Records every consumer has acknowledged are retired (deleted) in the same commit."""
        if not cursor:
            return
        with self._lock:
            c = self._begin()
            try:
                self._ack_rows(consumer, cursor, self._clock.wall_ms())
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def _ack_rows(self, consumer: str, cursor: Mapping[str, int], now: int) -> None:
        for cls, pos in cursor.items():
            cur = self._conn.execute(
                "UPDATE consumers SET acked_pos=max(acked_pos, ?), acked_wall_ms=? "
                "WHERE name=? AND cls=?",
                (pos, now, consumer, cls),
            )
            if cur.rowcount == 0:
                raise UnknownConsumer(f"consumer {consumer!r} does not take {cls!r}")
            self._retire(cls)

    def load_checkpoints(self, prefix: str) -> dict[str, str]:
        """Every checkpoint entry whose name starts with `prefix`, as last committed with
        `append_records(checkpoint=...)`."""
        with self._lock:
            exists = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='checkpoints'"
            ).fetchone()
            if exists is None:
                return {}
            rows = self._conn.execute(
                "SELECT name, body FROM checkpoints WHERE substr(name, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
        return dict(rows)

    def _retire(self, cls: str) -> None:
        upto = self._conn.execute(
            "SELECT min(acked_pos) FROM consumers WHERE cls=?", (cls,)
        ).fetchone()[0]
        if upto:  # None (nobody consumes this class: keep) or 0 (nothing acked yet)
            n = self._delete_prefix(cls, upto, None)
            if n:
                self._bump(f"retired.{cls}", n)

    # ------------------------------------------------------------------ decoding
    def _decode_rows(self, cls: str, rows: Sequence[Sequence[Any]]) -> list[Record]:
        """Records from table rows (pos, sid, seq, mono_ns, wall_ms, clock, schema, body)."""
        if not rows:
            return []
        _pos, sids, seqs, monos, walls, clocks, schemas, bodies = zip(*rows, strict=True)
        return self._decode_columns(
            cls, len(rows), sids, seqs, monos, walls, clocks, schemas, decode_bodies(bodies)
        )

    def _decode_columns(
        self,
        cls: str,
        n: int,
        sids: Sequence[int],
        seqs: Sequence[int],
        monos: Sequence[int],
        walls: Sequence[int],
        clocks: Sequence[int],
        schemas: Sequence[int],
        values: list[Any],
    ) -> list[Record]:
        """Records from the columns of `n` rows, bodies already parsed."""
        by_sid = self._by_sid
        sid_set = set(sids)
        for sid in sid_set:
            if sid not in by_sid:
                self._load_stream(sid)
        devices: Iterable[str]
        streams: Iterable[str]
        if len(sid_set) == 1:  # the usual batch: one stream
            st = by_sid[sids[0]]
            devices, streams = repeat(st.device, n), repeat(st.stream, n)
            payloads = payloads_of(st.fields, values)
        else:
            sts = [by_sid[sid] for sid in sids]
            devices, streams = [st.device for st in sts], [st.stream for st in sts]
            payloads = [
                dict(zip(st.fields or (), v, strict=True)) if type(v) is list else v
                for st, v in zip(sts, values, strict=True)
            ]
        corrected: Iterable[int | None] = repeat(None, n)
        if any(clocks):  # written before the clock synced: correct from the epoch's anchor
            anchors = {epoch: self._anchor(epoch) for epoch in set(clocks) if epoch}
            corrected = [
                None
                if not epoch or anchors[epoch] is None
                else anchors[epoch].corrected_wall_ms(mono)  # type: ignore[union-attr]
                for epoch, mono in zip(clocks, monos, strict=True)
            ]
        return make_records(
            n,
            device=devices,
            stream=streams,
            seq=seqs,
            cls=repeat(cls, n),
            mono_ns=monos,
            wall_ms=walls,
            clock_synced=map(operator.not_, clocks),
            payload=payloads,
            schema=schemas,
            wall_corrected_ms=corrected,
        )

    def _load_stream(self, sid: int) -> _Stream:
        device, stream, cls, fields = self._conn.execute(
            "SELECT device, stream, cls, fields FROM streams WHERE id=?", (sid,)
        ).fetchone()
        st = _Stream(sid, device, stream, cls, _fields(fields))
        self._streams[(device, stream)] = st
        self._by_sid[sid] = st
        return st

    # ------------------------------------------------------------------ clock epochs
    def _ensure_epoch(self, boot_id: str) -> int:
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO epochs(boot_id) VALUES (?)", (boot_id,))
            return self._conn.execute(
                "SELECT id FROM epochs WHERE boot_id=?", (boot_id,)
            ).fetchone()[0]

    def _store_anchor(self, anchor: SyncAnchor) -> None:
        # The first sync seen in a boot corrects every unsynced record of that boot.
        self._conn.execute(
            "UPDATE epochs SET anchor_mono_ns=?, anchor_wall_ms=? "
            "WHERE id=? AND anchor_mono_ns IS NULL",
            (anchor.mono_ns, anchor.wall_ms, self._epoch),
        )
        log.info("event=clock_synced epoch=%d wall_ms=%d", self._epoch, anchor.wall_ms)

    def _anchor(self, epoch: int) -> SyncAnchor | None:
        row = self._conn.execute(
            "SELECT anchor_mono_ns, anchor_wall_ms FROM epochs WHERE id=?", (epoch,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return SyncAnchor(mono_ns=row[0], wall_ms=row[1])

    def clock_synced(self) -> bool:
        """Observe the clocks now (storing an anchor if the clock just synced)."""
        with self._lock:
            synced, anchor = self._sync.check()
            if anchor is not None:
                self._begin()
                try:
                    self._store_anchor(anchor)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            return synced

    # ------------------------------------------------------------------ quarantine, counters
    def quarantine(self, body: str | bytes, reason: str) -> None:
        """Keep aside something that could not be accepted as a record (never drop it)."""
        text = body if isinstance(body, str) else body.hex()
        with self._lock:
            self._begin()
            try:
                self._conn.execute(
                    "INSERT INTO quarantine(reason, body, wall_ms) VALUES (?,?,?)",
                    (reason, text, self._clock.wall_ms()),
                )
                self._bump("quarantined", 1)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _bump(self, name: str, n: int) -> None:
        self._conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )

    def _record_salvage(self, moved_to: Path, report: Mapping[str, int]) -> None:
        with self._lock:
            self._begin()
            try:
                self._bump("salvage_events", 1)
                for k, v in report.items():
                    self._bump(f"salvage.{k}", v)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self.append(
            f"health/log@{self.device}",
            "health",
            {"event": "log_salvaged", "moved_to": moved_to.name, **report},
        )

    # ------------------------------------------------------------------ inspection
    def data_version(self) -> int:
        """A number that changes when another connection (another process: a producer, an
        eviction) has committed since it was last asked; this connection's own commits leave
        it be. A poller that found nothing may skip reading while it stays the same."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """Everything a technician or the shadow needs to know about the log."""
        with self._lock:
            c = self._conn
            classes: dict[str, dict[str, Any]] = {}
            for cls, table in _TABLE.items():
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
                    f"SELECT count(*), min(wall_ms) FROM {_TABLE[cls]} WHERE pos>?", (acked,)
                ).fetchone()
                backlog.setdefault(name, {})[cls] = {"records": n, "oldest_wall_ms": oldest}
            counters = dict(c.execute("SELECT name, value FROM counters").fetchall())
            db_bytes = self._db_used_bytes()
            wal = self._wal_bytes()
            try:
                st = os.statvfs(self.path.parent)
                free_disk = st.f_bavail * st.f_frsize
            except OSError:
                free_disk = None
            return {
                "path": str(self.path),
                "device": self.device,
                "budget_bytes": self.budget_bytes,
                "used_bytes": db_bytes + wal,
                "wal_bytes": wal,
                "free_disk_bytes": free_disk,
                "free_floor_bytes": self.free_floor_bytes,
                "classes": classes,
                "evicted": evicted,
                "backlog": backlog,
                "counters": counters,
                "clock_synced": self.clock_synced(),
                "quarantined": c.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            }

    def quick_stats(self) -> dict[str, Any]:
        """The part of `stats()` a health endpoint polls, in O(log n) on its own read-only
        connection, so polling never holds up writers (`stats()` counts rows under the lock).
        Record counts come from positions: exact while deletions are prefix deletes (retire,
        evict); after a salvage that lost pages they are upper bounds."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            conn.execute("BEGIN")  # one snapshot
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free_pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
            spans = {
                cls: conn.execute(f"SELECT min(pos), max(pos) FROM {table}").fetchone()
                for cls, table in _TABLE.items()
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
        try:
            st = os.statvfs(self.path.parent)
            free_disk: int | None = st.f_bavail * st.f_frsize
        except OSError:
            free_disk = None
        return {
            "used_bytes": (pages - free_pages) * self._page_size + self._wal_bytes(),
            "budget_bytes": self.budget_bytes,
            "free_disk_bytes": free_disk,
            "records": records,
            "backlog": backlog,
            "clock_synced": self.clock_synced(),
        }

    def streams(self) -> list[dict[str, Any]]:
        """Per stream: identity, class, how many were produced, and evicted."""
        rows = self._conn.execute(
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
        rows = self._conn.execute(
            # SQLite takes the bare columns from the row holding the max().
            f"SELECT s.stream, max(r.seq), r.mono_ns FROM {_TABLE[cls]} r "
            "JOIN streams s ON s.id = r.sid GROUP BY r.sid"
        ).fetchall()
        return {stream: (seq, mono_ns) for stream, seq, mono_ns in rows}

    def evictions(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT s.device, s.stream, e.cls, e.reason, e.first_seq, e.last_seq, e.count, "
            "e.wall_ms FROM evictions e JOIN streams s ON s.id = e.sid ORDER BY e.id"
        ).fetchall()
        keys = ("device", "stream", "cls", "reason", "first_seq", "last_seq", "count", "wall_ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def seq_skips(self) -> list[dict[str, Any]]:
        """Ranges a salvage skipped to resume above every number ever handed out: each number
        in them was either never used or used by a record that could not be read back."""
        rows = self._conn.execute(
            "SELECT s.device, s.stream, k.first_seq, k.last_seq FROM seq_skips k "
            "JOIN streams s ON s.id = k.sid ORDER BY k.id"
        ).fetchall()
        keys = ("device", "stream", "first_seq", "last_seq")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def snapshot_records(self, classes: Iterable[str] = CLASSES) -> Iterable[Record]:
        """Every record still held, read in one consistent snapshot (exports, verification).
        Runs on its own read connection so writers and consumers are not disturbed."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            conn.execute("BEGIN")  # one read transaction = one WAL snapshot
            for cls in classes:
                cur = conn.execute(
                    f"SELECT pos, sid, seq, mono_ns, wall_ms, clock, schema, body "
                    f"FROM {_TABLE[validate_class(cls)]} ORDER BY pos"
                )
                while rows := cur.fetchmany(1000):
                    yield from self._decode_rows(cls, rows)
            conn.execute("COMMIT")
        finally:
            conn.close()


def _fields(text: str | None) -> tuple[str, ...] | None:
    return tuple(json.loads(text)) if text else None


def _require_sqlite(conn: sqlite3.Connection, version: tuple[int, ...]) -> None:
    """The append path needs `RETURNING` (3.35) and the JSON functions; say so at open rather
    than fail at the first append."""
    if version < (3, 35, 0):
        raise LogError(f"SQLite {'.'.join(map(str, version))} is too old: the log needs 3.35+")
    try:
        conn.execute("SELECT count(*) FROM json_each('[1]')").fetchone()
    except sqlite3.OperationalError as exc:
        raise LogError(f"this SQLite has no JSON functions ({exc}); the log needs them") from None


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    _require_sqlite(conn, sqlite3.sqlite_version_info)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    # Takes effect on a new file only; lets eviction under disk pressure return pages to the OS.
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise LogError(f"could not switch {path} to WAL (got {mode!r})")
    # FULL in WAL mode: the WAL is fsynced at every commit, so a commit survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('log_format', ?)",
        (str(LOG_FORMAT_VERSION),),
    )
    return conn
