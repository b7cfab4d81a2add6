"""The local lake: uplink batches in, partitioned Parquet out, each record exactly once.

Layout under `root`::

    telemetry/site=<site>/dt=<yyyy-MM-dd>/part-<ingest_ms>-<id>.parquet
    decode-failed/<arrival day>/<sequence>.flb (+ .why)   stream records that did not decode
    firehose-errors/processing-failed/<day>/<sequence>.json (+ .why)  rows Firehose could not file
    _lake.sqlite                                          identities seen, files, state

What comes in is decoded and routed by cloud/lake/decode.py's `process`, the function the
cloud's decoder Lambda runs, fed the Kinesis event Lambda would hand it; what it puts is
filed as the stack's Firehose files it (cloud/lake/firehose.py). The quarantine keys are the
ones the Lambda writes to the lake bucket. So whatever the cloud rejects, this lake rejects.

Exactly once: the identities of the records written by an `ingest` call, and the names of the
Parquet files holding them, commit in one SQLite transaction *after* the files are written and
fsynced under temporary names, and the files are renamed into place after the commit. On open,
a temporary file that the database knows is renamed into place (the commit happened); one it
does not know is deleted (the commit did not happen, so its records were never acknowledged
and will be delivered again). Compaction swaps files the same way.
"""

from __future__ import annotations

import json
import logging
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

from cloud.lake import decode, firehose
from cloud.lake.rows import utc_date
from cloud.lake.schema import (
    ARROW_SCHEMA,
    PARTITION_PATH,
    TABLE,
    firehose_error_prefix,
    state_item,
)
from components.core import batch, topics
from components.core.clock import Clock
from components.core.durable import fsync_dir
from components.core.envelope import Identity, Record

log = logging.getLogger(__name__)

TMP_SUFFIX: Final = ".tmp"
# The stream this lake stands behind, as the decoder's event names it (Lambda's eventSourceARN).
LOCAL_STREAM_ARN: Final = "arn:aws:kinesis:local:000000000000:stream/floorline-telemetry"
LOCAL_PARTITION_KEY: Final = "local"  # records fed as bare bytes carry none; decode ignores it
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
        """Decode, deduplicate and write `batches` (telemetry-stream records: uplink batches,
        alerts); returns once they are durable. Each gets the next local sequence number and
        the lake clock's time as its arrival.

        Acknowledge them upstream (Kinesis checkpoint, MQTT ack) only after this returns.
        """
        datas = list(batches)
        arrival_ms = self.clock.wall_ms()
        first = self._take_sequence_numbers(len(datas))
        return self.ingest_stream(
            (f"{first + i:020d}", LOCAL_PARTITION_KEY, arrival_ms, data)
            for i, data in enumerate(datas)
        )

    def ingest_stream(self, records: Iterable[tuple[str, str, int, bytes]]) -> IngestResult:
        """Like `ingest`, for Kinesis records as read from a stream: (sequence number,
        partition key, arrival ms, data). Runs the decoder Lambda's own `process` on the event
        Lambda would build from them, then files what it puts as Firehose would."""
        event = decode.lambda_event(records, LOCAL_STREAM_ARN)
        result = IngestResult(batches=len(event["Records"]))
        put: list[firehose.DeliveredRow] = []

        def accept(firehose_records: list[bytes]) -> list[bool]:
            for number, record in enumerate(firehose_records):
                try:
                    put.extend(firehose.deliver(record))
                except firehose.ProcessingFailed as exc:  # what Firehose's error output keeps
                    day = utc_date(self.clock.wall_ms())
                    key = firehose_error_prefix("processing-failed", day) + f"{uuid.uuid4().hex}"
                    self._keep(f"{key}-{number}.json", record, str(exc),
                               "firehose_processing_failed")  # fmt: skip
            return [True] * len(firehose_records)  # accepted: Firehose owns them now

        def quarantine(key: str, data: bytes, reason: str) -> None:
            self._keep(key, data, reason, "quarantined_batches")
            result.quarantined += 1

        answer = decode.process(event, accept, quarantine, log=log.debug)
        assert not answer["batchItemFailures"], answer  # accept() refuses nothing
        result.records = len(put)
        if put:
            self._write(put, result)
        return result

    def ingest_records(self, site: str, records: Sequence[Record]) -> IngestResult:
        """Like `ingest`, for records already decoded (e.g. by a simulation's cloud side)."""
        if not topics.is_segment(site):
            raise batch.BatchError(f"site {site!r} is not a valid topic segment", site)
        ingest_ms = self.clock.wall_ms()
        result = IngestResult(batches=1, records=len(records))
        self._write([firehose.delivered(decode.row(r, site, ingest_ms)) for r in records], result)
        return result

    def _take_sequence_numbers(self, count: int) -> int:
        """The first of `count` local sequence numbers, never handed out before."""
        self._count("stream_sequence", count)
        (last,) = self.db.execute(
            "SELECT value FROM counters WHERE name = 'stream_sequence'"
        ).fetchone()
        return int(last) - count + 1

    def _write(self, delivered: list[firehose.DeliveredRow], result: IngestResult) -> None:
        renames: list[tuple[Path, Path]] = []
        file_ms = self.clock.wall_ms()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            partitions: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            seen_devices: dict[str, tuple[str, int]] = {}
            fresh = self._insert_identities(delivered)
            for item in delivered:
                columns = item.columns
                seen_devices[columns["device"]] = (item.keys[0], columns["ingest_ms"])
                if fresh is not None:
                    identity = (columns["device"], columns["stream"], columns["seq"])
                    if identity not in fresh:  # known, or earlier in this call
                        result.duplicates += 1
                        continue
                    fresh.discard(identity)
                partitions[item.keys].append(columns)
            for (site, day), rows in sorted(partitions.items()):
                final = (
                    self.root
                    / PARTITION_PATH.format(site=site, dt=day)
                    / f"part-{file_ms}-{uuid.uuid4().hex[:12]}.parquet"
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
                [(device, json.dumps(state_item(device, site, seen_ms)))
                 for device, (site, seen_ms) in seen_devices.items()],
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

    def _insert_identities(self, delivered: list[firehose.DeliveredRow]) -> set[Identity] | None:
        """Claim the identities of `delivered` inside the open transaction. Returns None when
        every one was new (the common case: one statement for them all), else the set of those
        this call claimed first; a row whose identity is not in it is a duplicate."""
        identities = [(d.columns["device"], d.columns["stream"], d.columns["seq"])
                      for d in delivered]  # fmt: skip
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

    def _keep(self, key: str, data: bytes, reason: str, counter: str) -> None:
        """Keep what could not be filed, under the bucket key the cloud would use, with the
        reason beside it: never a silent drop."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.with_name(path.name + ".why").write_text(reason + "\n", encoding="utf-8")
        self._count(counter)

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
