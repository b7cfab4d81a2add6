"""A read-only view of a lake that another process may be writing.

The dashboard never opens `cloud.lake.store.Lake`: its constructor takes the writer's role
(recovery renames and deletes temporary files, which would destroy an ingest in progress).
Instead each request:
- reads the committed file list and the device state from `_lake.sqlite` in one read
  transaction on a `mode=ro` connection (WAL: readers never block the writer), then closes it;
- resolves compactions in flight: while one is pending its new file and the old ones are both
  listed, so the old ones are dropped once the new file is in place, the new one until then;
- skips listed files not renamed into place yet (their rows appear on the next poll);
- builds an in-memory DuckDB connection with the `telemetry` and `latest_state` views the lake
  CLI offers, plus the `json_extract_scalar` macro that keeps queries.py Athena-shaped;
- `pin` then copies the rows the request covers into memory in one scan, so the dashboard's
  queries never reopen files a compaction may delete meanwhile (and the Parquet and JSON are
  decoded once, not once per query).
A file deleted by a compaction between listing and pinning fails with an I/O error; the caller
takes a new snapshot and retries (`LakeChanged` once that keeps happening).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from cloud.dashboard.queries import Scope
from cloud.lake.query import DUCKDB_TYPES
from cloud.lake.schema import COLUMNS, PARTITION_KEYS, STATE_TABLE, TABLE

LAKE_DB: Final = "_lake.sqlite"
STATE_COLUMNS: Final = (
    ("device", "VARCHAR"),
    ("site", "VARCHAR"),
    ("last_seen_ms", "BIGINT"),
    ("client_id", "VARCHAR"),
    ("expires_at_s", "BIGINT"),
)
# Athena's name for reading a scalar out of JSON text, over DuckDB's equivalent.
FILES_VIEW: Final = "_telemetry_files"
PINNED_TABLE: Final = "_telemetry_pinned"
JSON_MACRO: Final = "CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)"


class LakeNotFound(FileNotFoundError):
    """The folder holds no lake database (wrong --lake, or nothing ingested yet)."""


class LakeChanged(RuntimeError):
    """A file vanished under a query (a compaction finished); take a new snapshot."""


@dataclass(frozen=True)
class Snapshot:
    root: Path
    files: tuple[Path, ...]
    state: tuple[dict[str, Any], ...]


def read_snapshot(root: Path) -> Snapshot:
    db_path = root / LAKE_DB
    if not db_path.is_file():
        raise LakeNotFound(f"no lake database at {db_path}")
    con = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        con.execute("BEGIN")  # one read transaction: files, compactions and state agree
        listed = [path for (path,) in con.execute("SELECT path FROM files")]
        pending = con.execute("SELECT new_path, old_paths FROM compactions").fetchall()
        items = [item for (item,) in con.execute("SELECT item FROM state ORDER BY device")]
        con.execute("COMMIT")
    finally:
        con.close()
    hidden: set[str] = set()
    for new_path, old_paths in pending:
        if (root / new_path).is_file():
            hidden.update(json.loads(old_paths))
        else:
            hidden.add(new_path)
    files = tuple(
        root / path for path in sorted(listed) if path not in hidden and (root / path).is_file()
    )
    return Snapshot(root=root, files=files, state=tuple(json.loads(item) for item in items))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection over the snapshot (close it after the request)."""
    con = duckdb.connect()
    con.execute(JSON_MACRO)
    names = [c.name for c in COLUMNS] + [name for name, _ in PARTITION_KEYS]
    if snapshot.files:
        hive_types = ", ".join(f"'{name}': '{DUCKDB_TYPES[t]}'" for name, t in PARTITION_KEYS)
        paths = ", ".join(_literal(path.as_posix()) for path in snapshot.files)
        con.execute(
            f"CREATE VIEW {FILES_VIEW} AS SELECT {', '.join(names)} FROM read_parquet([{paths}], "
            f"hive_partitioning = true, hive_types = {{{hive_types}}})"
        )
    else:
        columns = [f"{c.name} {DUCKDB_TYPES[c.glue_type]}" for c in COLUMNS]
        columns += [f"{name} {DUCKDB_TYPES[t]}" for name, t in PARTITION_KEYS]
        con.execute(f"CREATE TABLE {FILES_VIEW} ({', '.join(columns)})")
    con.execute(f"CREATE VIEW {TABLE} AS SELECT * FROM {FILES_VIEW}")
    con.execute(f"CREATE TABLE {STATE_TABLE} ({', '.join(f'{n} {t}' for n, t in STATE_COLUMNS)})")
    if snapshot.state:
        con.executemany(
            f"INSERT INTO {STATE_TABLE} VALUES ({', '.join('?' for _ in STATE_COLUMNS)})",
            [[item.get(name) for name, _ in STATE_COLUMNS] for item in snapshot.state],
        )
    return con


def pin(con: duckdb.DuckDBPyConnection, scope: Scope) -> None:
    """Point `telemetry` at an in-memory copy of the rows `scope` covers (one file scan)."""
    where, params = scope.where()
    con.execute(f"CREATE TABLE {PINNED_TABLE} AS SELECT * FROM {FILES_VIEW} WHERE {where}", params)
    con.execute(f"CREATE OR REPLACE VIEW {TABLE} AS SELECT * FROM {PINNED_TABLE}")
