"""The local lake: uplink batches in, partitioned Parquet out, each record exactly once.

Layout under `root`::

    telemetry/site=<site>/dt=<yyyy-MM-dd>/part-<ingest_ms>-<id>.parquet
    _quarantine/<ingest_ms>-<sha256 prefix>.bin (+ .why)   batches that could not be decoded
    _lake.sqlite                                          identities seen, files, state

Exactly once: the identities of the records written by an `ingest` call, and the names of the
Parquet files holding them, commit in one SQLite transaction *after* the files are written and
fsynced under temporary names, and the files are renamed into place after the commit. On open,
a temporary file that the database knows is renamed into place (the commit happened); one it
does not know is deleted (the commit did not happen, so its records were never acknowledged
and will be delivered again). Compaction swaps files the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from cloud.lake.schema import (
    ARROW_SCHEMA,
    PARTITION_PATH,
    TABLE,
    partition_date,
    row,
    state_item,
)
from components.core import batch
from components.core.clock import Clock
from components.core.durable import fsync_dir
from components.core.envelope import EnvelopeError, Identity, Record, from_dict

TMP_SUFFIX: Final = ".tmp"
_SITE_OK: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:-")
SMALL_FILE_BYTES: Final = 8 * 1024 * 1024  # files below this are merged by compact()
PARQUET_COMPRESSION: Final = "snappy"  # Firehose's ParquetSerDe default

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS identities (
    device TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (device, stream, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, rows INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS compactions (
    id INTEGER PRIMARY KEY, new_path TEXT NOT NULL, old_paths TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (device TEXT PRIMARY KEY, item TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (source TEXT PRIMARY KEY, position TEXT NOT NULL);
"""


@dataclass
class IngestResult:
    batches: int = 0
    records: int = 0
    rows_written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class CompactionResult:
    partitions: int = 0
    files_merged: int = 0
    files_written: int = 0


def decode_delivery(data: bytes) -> tuple[str, list[Record]]:
    """(site, records) of one stream record: an uplink batch, or an alert envelope as the
    `floorline_alerts` rule forwards it (JSON with the `site` the rule added)."""
    if data[:1] == b"{":
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise batch.BatchError(f"JSON delivery does not parse: {exc}") from None
        if not isinstance(doc, dict):
            raise batch.BatchError("JSON delivery is not an object", doc)
        site, records = doc.get("site"), [from_dict(doc)]
    else:
        site, records = batch.decode(data)
    if not isinstance(site, str) or not site or not set(site) <= _SITE_OK:
        raise batch.BatchError(f"site {site!r} is not a valid topic segment", site)
    return site, records


def _write_parquet(table: pa.Table, tmp: Path) -> None:
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle, compression=PARQUET_COMPRESSION)
        handle.flush()
        os.fsync(handle.fileno())


class Lake:
    def __init__(self, root: Path | str, *, clock: Clock) -> None:
        self.root = Path(root)
        self.clock = clock
        (self.root / TABLE).mkdir(parents=True, exist_ok=True)
        # One writer per lake; it may be driven from several threads (a rules bridge, a Kinesis
        # poller) as long as they take turns: the lock below makes every call one at a time.
        self.db = sqlite3.connect(
            self.root / "_lake.sqlite", isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA_SQL)
        self._recover()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- recovery -------------------------------------------------------------------------

    def _recover(self) -> None:
        known = {path for (path,) in self.db.execute("SELECT path FROM files")}
        for cid, new_path, old_paths in list(
            self.db.execute("SELECT id, new_path, old_paths FROM compactions")
        ):
            self._finish_compaction(cid, new_path, json.loads(old_paths))
        for tmp in (self.root / TABLE).rglob(f"*{TMP_SUFFIX}"):
            final = tmp.with_name(tmp.name[: -len(TMP_SUFFIX)])
            relative = final.relative_to(self.root).as_posix()
            if relative in known:
                os.replace(tmp, final)  # committed before the crash: finish the rename
                self._count("recovered_files")
            else:
                tmp.unlink()  # never committed: its records will be delivered again
                self._count("discarded_uncommitted_files")

    # ---- ingest ---------------------------------------------------------------------------

    def ingest(self, batches: Iterable[bytes]) -> IngestResult:
        """Decode, deduplicate and write `batches`; returns once they are durable.

        Acknowledge them upstream (Kinesis checkpoint, MQTT ack) only after this returns.
        """
        ingest_ms = self.clock.wall_ms()
        result = IngestResult()
        decoded: list[tuple[str, list[Record]]] = []
        for data in batches:
            result.batches += 1
            try:
                site, records = decode_delivery(data)
            except (batch.BatchError, EnvelopeError) as exc:
                self._quarantine(data, exc, ingest_ms)
                result.quarantined += 1
                continue
            decoded.append((site, records))
            result.records += len(records)
        if decoded:
            self._write(decoded, ingest_ms, result)
        return result

    def ingest_records(self, site: str, records: Sequence[Record]) -> IngestResult:
        """Like `ingest`, for records already decoded (e.g. by a simulation's cloud side)."""
        if not site or not set(site) <= _SITE_OK:
            raise batch.BatchError(f"site {site!r} is not a valid topic segment", site)
        result = IngestResult(batches=1, records=len(records))
        self._write([(site, list(records))], self.clock.wall_ms(), result)
        return result

    def _write(
        self, decoded: list[tuple[str, list[Record]]], ingest_ms: int, result: IngestResult
    ) -> None:
        renames: list[tuple[Path, Path]] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            partitions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            seen_devices: dict[str, str] = {}
            fresh = self._insert_identities(decoded)
            for site, records in decoded:
                for record in records:
                    seen_devices[record.device] = site
                    if fresh is not None:
                        if record.identity not in fresh:  # known, or earlier in this call
                            result.duplicates += 1
                            continue
                        fresh.discard(record.identity)
                    partitions[(site, partition_date(record, ingest_ms))].append(
                        row(record, ingest_ms)
                    )
            for (site, day), rows in sorted(partitions.items()):
                final = (
                    self.root
                    / PARTITION_PATH.format(site=site, dt=day)
                    / f"part-{ingest_ms}-{uuid.uuid4().hex[:12]}.parquet"
                )
                tmp = final.with_name(final.name + TMP_SUFFIX)
                renames.append((tmp, final))  # before writing: a failed write is cleaned too
                _write_parquet(pa.Table.from_pylist(rows, schema=ARROW_SCHEMA), tmp)
                relative = final.relative_to(self.root).as_posix()
                self.db.execute("INSERT INTO files VALUES (?, ?)", (relative, len(rows)))
                result.files.append(relative)
                result.rows_written += len(rows)
            self.db.executemany(
                "INSERT INTO state VALUES (?, ?) ON CONFLICT(device) DO UPDATE "
                "SET item = excluded.item WHERE json_extract(excluded.item, '$.last_seen_ms') "
                ">= json_extract(state.item, '$.last_seen_ms')",  # never goes backwards
                [(device, json.dumps(state_item(device, site, ingest_ms)))
                 for device, site in seen_devices.items()],
            )  # fmt: skip
            self._count("rows_written", result.rows_written)
            self._count("duplicates_dropped", result.duplicates)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            for tmp, _ in renames:
                tmp.unlink(missing_ok=True)
            raise
        for tmp, final in renames:
            os.replace(tmp, final)
        for directory in {final.parent for _, final in renames}:
            fsync_dir(directory)

    def _insert_identities(self, decoded: list[tuple[str, list[Record]]]) -> set[Identity] | None:
        """Claim the identities of `decoded` inside the open transaction. Returns None when every
        one was new (the common case: one statement for them all), else the set of those this
        call claimed first; a record whose identity is not in it is a duplicate."""
        identities = [record.identity for _, records in decoded for record in records]
        self.db.execute("SAVEPOINT claim")
        before = self.db.total_changes
        self.db.executemany("INSERT OR IGNORE INTO identities VALUES (?, ?, ?)", identities)
        if self.db.total_changes - before == len(identities):
            self.db.execute("RELEASE claim")
            return None
        # Some were known (or repeated within this call): claim one at a time to tell which.
        self.db.execute("ROLLBACK TO claim")
        self.db.execute("RELEASE claim")
        fresh: set[Identity] = set()
        for identity in identities:
            if self.db.execute(
                "INSERT OR IGNORE INTO identities VALUES (?, ?, ?)", identity
            ).rowcount:
                fresh.add(identity)
        return fresh

    def _quarantine(self, data: bytes, exc: Exception, ingest_ms: int) -> None:
        """Keep what could not be decoded, with the reason: never a silent drop."""
        folder = self.root / "_quarantine"
        folder.mkdir(exist_ok=True)
        stem = f"{ingest_ms}-{hashlib.sha256(data).hexdigest()[:16]}"
        (folder / f"{stem}.bin").write_bytes(data)
        evidence = getattr(exc, "evidence", None)
        (folder / f"{stem}.why").write_text(
            f"{type(exc).__name__}: {exc}\nevidence: {evidence!r:.500}\n", encoding="utf-8"
        )
        self._count("quarantined_batches")

    # ---- compaction -----------------------------------------------------------------------

    def _partitions(self) -> Iterator[Path]:
        for site_dir in sorted((self.root / TABLE).glob("site=*")):
            yield from sorted(site_dir.glob("dt=*"))

    def compact(
        self, *, small_file_bytes: int = SMALL_FILE_BYTES, min_files: int = 2
    ) -> CompactionResult:
        """Merge each partition's small files into one, sorted by (device, stream, seq)."""
        result = CompactionResult()
        for partition in self._partitions():
            small = sorted(
                path
                for path in partition.glob("*.parquet")
                if path.stat().st_size < small_file_bytes
            )
            if len(small) < min_files:
                continue
            table = pa.concat_tables([pq.read_table(path, schema=ARROW_SCHEMA) for path in small])
            table = table.sort_by([("device", "ascending"), ("stream", "ascending"),
                                   ("seq", "ascending")])  # fmt: skip
            final = partition / f"part-{self.clock.wall_ms()}-{uuid.uuid4().hex[:12]}.parquet"
            _write_parquet(table, final.with_name(final.name + TMP_SUFFIX))
            olds = [path.relative_to(self.root).as_posix() for path in small]
            new = final.relative_to(self.root).as_posix()
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(
                "INSERT INTO compactions (new_path, old_paths) VALUES (?, ?)",
                (new, json.dumps(olds)),
            )
            self.db.execute("INSERT INTO files VALUES (?, ?)", (new, table.num_rows))
            self.db.execute("COMMIT")
            self._finish_compaction(cursor.lastrowid, new, olds)
            self._count("files_compacted", len(small))
            result.partitions += 1
            result.files_merged += len(small)
            result.files_written += 1
        return result

    def _finish_compaction(self, cid: int | None, new: str, olds: list[str]) -> None:
        final = self.root / new
        tmp = final.with_name(final.name + TMP_SUFFIX)
        if tmp.exists():
            os.replace(tmp, final)
        for old in olds:
            (self.root / old).unlink(missing_ok=True)
        fsync_dir(final.parent)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("DELETE FROM files WHERE path = ?", [(old,) for old in olds])
        self.db.execute("DELETE FROM compactions WHERE id = ?", (cid,))
        self.db.execute("COMMIT")

    # ---- reading --------------------------------------------------------------------------

    def latest_state(self) -> dict[str, dict[str, Any]]:
        """Latest state per device, in the DynamoDB item shape of the device-state rule."""
        return {
            device: json.loads(item)
            for device, item in self.db.execute("SELECT device, item FROM state ORDER BY device")
        }

    def checkpoint(self, source: str) -> str | None:
        """Where a source (e.g. one Kinesis shard) was last read up to, if ever."""
        found = self.db.execute(
            "SELECT position FROM checkpoints WHERE source = ?", (source,)
        ).fetchone()
        return None if found is None else str(found[0])

    def set_checkpoint(self, source: str, position: str) -> None:
        """Record progress; call after the `ingest` of everything up to `position` returned."""
        self.db.execute(
            "INSERT INTO checkpoints VALUES (?, ?) ON CONFLICT(source) DO UPDATE "
            "SET position = excluded.position",
            (source, position),
        )

    def stats(self) -> dict[str, int]:
        counters = Counter(dict(self.db.execute("SELECT name, value FROM counters")))
        counters["identities"] = self.db.execute("SELECT count(*) FROM identities").fetchone()[0]
        counters["files"] = self.db.execute("SELECT count(*) FROM files").fetchone()[0]
        counters["devices"] = self.db.execute("SELECT count(*) FROM state").fetchone()[0]
        return dict(counters)

    def _count(self, name: str, by: int = 1) -> None:
        # Autocommits outside a transaction; inside one it commits (or not) with it.
        self.db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
            "SET value = value + excluded.value",
            (name, by),
        )
