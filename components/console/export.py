"""`floorline buffer export`: copy the log's backlog to a USB stick, in the export format of
components/lib/export.py (which the lake import reads back verified).

The snapshot is one read transaction on the log (`Log.snapshot_records`): a consistent copy
while the components keep writing, with no offset moved and nothing deleted, so the uplink is
not disturbed.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from components.console.logview import read_only
from components.core.envelope import CLASSES
from components.core.log import CLASS_TABLES as LOG_TABLES
from components.core.log import Log
from components.lib.export import (
    COLUMN_NAMES,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    FORMATS,
    MANIFEST,
    ExportError,
    arrow_schema,
    csv_value,
    file_sha256,
    pyarrow_modules,
    record_to_row,
)

log = logging.getLogger("floorline.console.export")

DEFAULT_CHUNK_ROWS: Final = 5000  # rows per write: bounded memory, few row groups


# --------------------------------------------------------------------------- file writers
class _CsvWriter:
    def __init__(self, path: Path) -> None:
        self._f = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self._w = csv.writer(self._f)
        self._w.writerow(COLUMN_NAMES)

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._w.writerows([csv_value(r[n]) for n in COLUMN_NAMES] for r in rows)

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        pa, pq = pyarrow_modules()
        self._pa = pa
        self._schema = arrow_schema()
        self._path = path
        self._w = pq.ParquetWriter(path, self._schema, compression="zstd")

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._w.write_table(self._pa.Table.from_pylist(rows, schema=self._schema))

    def close(self) -> None:
        self._w.close()
        with open(self._path, "rb") as f:
            os.fsync(f.fileno())


# --------------------------------------------------------------------------- exporting
@dataclass
class _StreamRange:
    cls: str
    first_seq: int
    last_seq: int
    records: int


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: dict[str, Any]


def sent_upto(path: str | Path, uplink_prefix: str) -> dict[tuple[str, str], int]:
    """Per (device, stream): the highest seq every uplink consumer has acknowledged. Records
    above it are the backlog. A class no uplink consumer takes is never sent: all of it is
    backlog. Offsets only move forward, so this bound stays safe while the log is live."""
    out: dict[tuple[str, str], int] = {}
    with read_only(path) as conn:
        for cls in CLASSES:
            (upto,) = conn.execute(
                "SELECT min(acked_pos) FROM consumers WHERE cls=? AND substr(name, 1, ?) = ?",
                (cls, len(uplink_prefix), uplink_prefix),
            ).fetchone()
            if not upto:
                continue
            for device, stream, seq in conn.execute(
                f"SELECT s.device, s.stream, max(r.seq) FROM {LOG_TABLES[cls]} r "
                "JOIN streams s ON s.id = r.sid WHERE r.pos <= ? GROUP BY r.sid",
                (upto,),
            ):
                out[(device, stream)] = seq
    return out


def export_name(device: str, now_wall_ms: int) -> str:
    import datetime as dt

    stamp = dt.datetime.fromtimestamp(now_wall_ms / 1000, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"floorline-{device}-{stamp}"


MAX_SAME_SECOND: Final = 100  # exports of one device within one second (a script's loop)


def _new_folder(dest: Path, name: str) -> Path:
    """A folder that did not exist: `name`, else `name-2`, `name-3`, ... (two exports in the
    same second, or the stick's clock behind); never an existing export."""
    for n in range(1, MAX_SAME_SECOND + 1):
        folder = dest / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise ExportError(f"cannot create {folder}: {exc}") from exc
    raise ExportError(f"{dest} already holds {MAX_SAME_SECOND} exports named {name}*")


def write_export(
    log: Log,
    dest: str | Path,
    *,
    fmt: str,
    device: str,
    now_wall_ms: int,
    scope: str = "backlog",
    site: str | None = None,
    skip_upto: Mapping[tuple[str, str], int] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the records held in `log` (minus those at or below `skip_upto` per stream) into
    a new folder under `dest`. Reads only; `progress(n)` is called with rows written so far."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {FORMATS}")
    writer_cls = _ParquetWriter if fmt == "parquet" else _CsvWriter
    if fmt == "parquet":
        pyarrow_modules()  # fail before creating anything
    dest = Path(dest)
    if not dest.is_dir():
        raise ExportError(f"{dest} is not a folder (is the stick mounted?)")
    folder = _new_folder(dest, export_name(device, now_wall_ms))
    skip_upto = skip_upto or {}
    ranges: dict[tuple[str, str], _StreamRange] = {}
    files: list[dict[str, Any]] = []
    done = 0
    writer: _CsvWriter | _ParquetWriter | None = None
    current_cls: str | None = None
    counts: dict[str, int] = {}
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal done, rows
        if rows and writer is not None:
            writer.write(rows)
            done += len(rows)
            rows = []
            if progress is not None:
                progress(done)

    try:
        for rec in log.snapshot_records(CLASSES):  # one read transaction for all classes
            key = (rec.device, rec.stream)
            if rec.seq <= skip_upto.get(key, 0):
                continue
            if rec.cls != current_cls:
                flush()
                if writer is not None:
                    writer.close()
                current_cls = rec.cls
                writer = writer_cls(folder / f"{rec.cls}.{fmt}")
                counts[rec.cls] = 0
            rows.append(record_to_row(rec))
            counts[rec.cls] += 1
            r = ranges.get(key)
            if r is None:
                ranges[key] = _StreamRange(rec.cls, rec.seq, rec.seq, 1)
            else:
                r.last_seq, r.records = rec.seq, r.records + 1
            if len(rows) >= chunk_rows:
                flush()
        flush()
        if writer is not None:
            writer.close()
            writer = None
    except (OSError, sqlite3.Error) as exc:
        raise ExportError(f"export to {folder} failed: {exc}") from exc
    for cls in CLASSES:
        if cls in counts:
            path = folder / f"{cls}.{fmt}"
            files.append(
                {
                    "name": path.name,
                    "cls": cls,
                    "records": counts[cls],
                    "bytes": path.stat().st_size,
                    "sha256": file_sha256(path),
                }
            )
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "device": device,
        **({"site": site} if site else {}),
        "created_wall_ms": now_wall_ms,
        "scope": scope,
        "file_format": fmt,
        "columns": list(COLUMN_NAMES),
        "records": done,
        "files": files,
        "streams": [
            {
                "device": d,
                "stream": s,
                "cls": r.cls,
                "first_seq": r.first_seq,
                "last_seq": r.last_seq,
                "records": r.records,
            }
            for (d, s), r in sorted(ranges.items())
        ],
    }
    tmp = folder / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(folder / MANIFEST)
    _fsync_dir(folder)
    return ExportResult(folder, manifest)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:  # some filesystems cannot open a folder; the files are synced
        log.debug("event=folder_open_refused folder=%s error=%r", folder, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # FAT and some FUSE filesystems refuse it; the files are synced
        log.debug("event=folder_fsync_refused folder=%s error=%r", folder, exc)
    finally:
        os.close(fd)
