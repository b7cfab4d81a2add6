"""The log's tables (one per record class, so eviction and consumption are prefix deletes on
the rowid), the statements that fill and read them, and opening a connection to them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from components.core.envelope import CLASSES, EVICTION_ORDER
from components.core.log.errors import LogError

LOG_FORMAT_VERSION = 1
RANK = {cls: i for i, cls in enumerate(EVICTION_ORDER)}
TABLE = {cls: f"rec_{cls}" for cls in CLASSES}
# The table holding each record class, for read-only tools (verify, export) that query it.
CLASS_TABLES: dict[str, str] = dict(TABLE)
# A run (one stream, one timestamp) is inserted in one statement: SQLite splits the JSON array
# of its bodies itself, so no Python work or statement step is spent per record. The key is
# the array index, and json_each yields the elements in array order.
INSERT_RUN = {
    cls: f"INSERT INTO {table}(sid,seq,mono_ns,wall_ms,clock,schema,body) "
    "SELECT ?, ?+key, ?, ?, ?, ?, value FROM json_each(?)"
    for cls, table in TABLE.items()
}
# A read fetches each column of up to `limit` rows as one JSON array (sid, clock and schema as
# one number when every row has the same): fetching rows costs more than parsing arrays.
_ALL = "'['||group_concat({c})||']'"
_SAME_OR_ALL = f"CASE WHEN min({{c}}) = max({{c}}) THEN min({{c}}) ELSE {_ALL} END"
READ_COLUMNS = {
    cls: "SELECT count(*), "
    + ", ".join(_ALL.format(c=c) for c in ("pos", "seq", "mono_ns", "wall_ms", "body"))
    + ", "
    + ", ".join(_SAME_OR_ALL.format(c=c) for c in ("sid", "clock", "schema"))
    + f" FROM (SELECT * FROM {table} WHERE pos>? ORDER BY pos LIMIT ?)"
    for cls, table in TABLE.items()
}
PAGES = "SELECT page_count, freelist_count FROM pragma_page_count(), pragma_freelist_count()"
# Records of several streams or timestamps: one [sid, seq, mono_ns, wall_ms, body] per record.
INSERT_MIXED = {
    cls: f"INSERT INTO {table}(sid,seq,mono_ns,wall_ms,clock,schema,body) "
    "SELECT json_extract(value,'$[0]'), json_extract(value,'$[1]'), json_extract(value,'$[2]'),"
    " json_extract(value,'$[3]'), ?, ?, json_extract(value,'$[4]') FROM json_each(?)"
    for cls, table in TABLE.items()
}


SCHEMA = """
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
    for table in TABLE.values()
)


CHECKPOINTS_SQL = (
    "CREATE TABLE IF NOT EXISTS checkpoints(name TEXT PRIMARY KEY, body TEXT NOT NULL, "
    "wall_ms INTEGER NOT NULL)"
)


def fields_of(text: str | None) -> tuple[str, ...] | None:
    return tuple(json.loads(text)) if text else None


def require_sqlite(conn: sqlite3.Connection, version: tuple[int, ...]) -> None:
    """The append path needs `RETURNING` (3.35) and the JSON functions; say so at open rather
    than fail at the first append."""
    if version < (3, 35, 0):
        raise LogError(f"SQLite {'.'.join(map(str, version))} is too old: the log needs 3.35+")
    try:
        conn.execute("SELECT count(*) FROM json_each('[1]')").fetchone()
    except sqlite3.OperationalError as exc:
        raise LogError(f"this SQLite has no JSON functions ({exc}); the log needs them") from None


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    require_sqlite(conn, sqlite3.sqlite_version_info)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    # Takes effect on a new file only; lets eviction under disk pressure return pages to the OS.
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise LogError(f"could not switch {path} to WAL (got {mode!r})")
    # FULL in WAL mode: the WAL is fsynced at every commit, so a commit survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('log_format', ?)",
        (str(LOG_FORMAT_VERSION),),
    )
    return conn
