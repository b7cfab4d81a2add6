"""The export format: what `floorline buffer export` writes to a USB stick (the Console) and
what the lake import reads back verified (the cloud).

An export is a folder with one file per record class (`<cls>.parquet` or `<cls>.csv`) and a
`manifest.json` written last (so a half-written export, stick pulled out, has no manifest and
is refused). The manifest names the device, each file's record count, size and sha256, and
per stream the first and last sequence number and the record count.

Records exported and later uplinked arrive twice in the lake; the lake keeps one per identity
`(device, stream, seq)`.

`read_export(folder)` is the importer's entry point: it checks the manifest and every file's
hash before yielding anything, then yields each record once, checks that within a stream the
sequence numbers only increase and that the counts match the manifest, and raises
`ExportInvalid` (with the evidence) on any mismatch.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from components.core import strict_json
from components.core.envelope import EnvelopeError, Record, from_dict, validate_device

EXPORT_FORMAT: Final = "floorline-export"
EXPORT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
FORMATS: Final = ("parquet", "csv")
# Rows decoded from Parquet at a time when reading back: an import's peak memory follows it
# (1,000 rows: 37 MB over the importer's baseline for 200,000 records, 5,000 rows: 50 MB).
READ_BATCH_ROWS: Final = 1000


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "string" | "int64" | "int32" | "bool"
    nullable: bool = False


# The one column list of an export (parquet and csv alike). The lake import reads it back
# through `read_export`; `payload` is the record's payload as JSON text.
COLUMNS: Final = (
    Column("device", "string"),
    Column("stream", "string"),
    Column("seq", "int64"),
    Column("cls", "string"),
    Column("mono_ns", "int64"),
    Column("wall_ms", "int64"),
    Column("wall_corrected_ms", "int64", nullable=True),
    Column("clock_synced", "bool"),
    Column("schema", "int32"),
    Column("payload", "string"),
)
COLUMN_NAMES: Final = tuple(c.name for c in COLUMNS)


class ExportError(Exception):
    """The export could not be written (destination not usable, pyarrow missing...)."""


class ExportInvalid(Exception):
    """An export failed verification; `.evidence` says where and what."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


# --------------------------------------------------------------------------- row mapping
def record_to_row(rec: Record) -> dict[str, Any]:
    return {
        "device": rec.device,
        "stream": rec.stream,
        "seq": rec.seq,
        "cls": rec.cls,
        "mono_ns": rec.mono_ns,
        "wall_ms": rec.wall_ms,
        "wall_corrected_ms": rec.wall_corrected_ms,
        "clock_synced": rec.clock_synced,
        "schema": rec.schema,
        "payload": json.dumps(
            dict(rec.payload), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ),
    }


_INT64 = range(-(1 << 63), 1 << 63)
# Wall times become partition dates in the lake: 1970-01-01 up to the end of year 9999.
_WALL_MS = range(0, 253_402_300_800_000)
_WALL_COLUMNS = ("wall_ms", "wall_corrected_ms")


def row_to_record(row: Mapping[str, Any]) -> Record:
    """A record from an export row; raises EnvelopeError (schema, payload, a number out of
    range)."""
    data = {k: row.get(k) for k in COLUMN_NAMES}
    try:
        if not isinstance(data["payload"], str):
            raise TypeError(f"payload is {type(data['payload']).__name__}, not JSON text")
        data["payload"] = strict_json.loads(data["payload"])
    except (TypeError, ValueError, RecursionError) as exc:
        raise EnvelopeError(f"payload is not JSON: {exc}", evidence=dict(row)) from None
    for c in COLUMNS:
        value = data[c.name]
        if c.kind in ("int64", "int32") and isinstance(value, int) and value not in _INT64:
            raise EnvelopeError(f"{c.name} {value} does not fit 64 bits", evidence=dict(row))
        if c.name in _WALL_COLUMNS and isinstance(value, int) and value not in _WALL_MS:
            raise EnvelopeError(
                f"{c.name} {value} is not a date (year 1970 to 9999)", evidence=dict(row)
            )
    return from_dict(data)


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_parse(col: Column, text: str) -> Any:
    if text == "" and col.nullable:
        return None
    if col.kind in ("int64", "int32"):
        return int(text)
    if col.kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"{col.name}: {text!r} is not true/false")
        return text == "true"
    return text


def pyarrow_modules() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ExportError(
            "parquet needs pyarrow (pip install pyarrow), or use --format csv"
        ) from exc
    return pa, pq


def arrow_schema() -> Any:
    pa, _ = pyarrow_modules()
    types = {"string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "bool": pa.bool_()}
    return pa.schema([pa.field(c.name, types[c.kind], nullable=c.nullable) for c in COLUMNS])


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- reading back
def load_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportInvalid(
            f"{path} is missing: not an export, or an unfinished one", evidence=str(path)
        ) from None
    except (OSError, ValueError) as exc:
        raise ExportInvalid(f"{path} is unreadable: {exc}", evidence=str(path)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ExportInvalid(f"{path} is not a floorline export manifest", evidence=str(path))
    if manifest.get("version") != EXPORT_VERSION:
        raise ExportInvalid(
            f"export version {manifest.get('version')!r} is not supported",
            evidence=manifest.get("version"),
        )
    if manifest.get("file_format") not in FORMATS:
        raise ExportInvalid(
            f"file format {manifest.get('file_format')!r} is unknown",
            evidence=manifest.get("file_format"),
        )
    _check_shape(manifest, path)
    try:
        validate_device(manifest.get("device"))  # type: ignore[arg-type]
    except EnvelopeError as exc:
        raise ExportInvalid(
            f"{path}: the exporting device: {exc}", evidence=manifest.get("device")
        ) from None
    if "site" in manifest and not isinstance(manifest["site"], str):
        raise ExportInvalid(f"{path}: 'site' is not text", evidence=manifest["site"])
    if manifest.get("columns") != list(COLUMN_NAMES):
        raise ExportInvalid(
            "export columns differ from this reader's", evidence=manifest.get("columns")
        )
    return manifest


_FILE_KEYS = {"name": str, "cls": str, "records": int, "bytes": int, "sha256": str}
_STREAM_KEYS = {
    "device": str,
    "stream": str,
    "cls": str,
    "first_seq": int,
    "last_seq": int,
    "records": int,
}


def _check_shape(manifest: Mapping[str, Any], path: Path) -> None:
    """The manifest's lists hold objects with the expected typed keys (it is outside input)."""
    if not isinstance(manifest.get("records"), int):
        raise ExportInvalid(f"{path}: 'records' is not an integer", evidence=manifest)
    for section, keys in (("files", _FILE_KEYS), ("streams", _STREAM_KEYS)):
        entries = manifest.get(section)
        if not isinstance(entries, list):
            raise ExportInvalid(f"{path}: {section!r} is not a list", evidence=entries)
        for entry in entries:
            if not isinstance(entry, dict) or any(
                not isinstance(entry.get(k), t) or isinstance(entry.get(k), bool)
                for k, t in keys.items()
            ):
                raise ExportInvalid(f"{path}: bad {section} entry", evidence=entry)


def verify_files(folder: str | Path, manifest: Mapping[str, Any]) -> None:
    """Every file the manifest names exists with its size and sha256."""
    for entry in manifest["files"]:
        path = Path(folder) / entry["name"]
        if Path(entry["name"]).name != entry["name"]:
            raise ExportInvalid(
                f"file name {entry['name']!r} leaves the export folder", evidence=entry
            )
        if not path.is_file():
            raise ExportInvalid(f"{path} is missing", evidence=entry)
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise ExportInvalid(
                f"{path} has {size} bytes, the manifest says {entry['bytes']}", evidence=entry
            )
        digest = file_sha256(path)
        if digest != entry["sha256"]:
            raise ExportInvalid(
                f"{path} sha256 {digest} does not match the manifest",
                evidence={**entry, "actual_sha256": digest},
            )


def _iter_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    """Rows of an export file; a file that cannot be parsed raises ExportInvalid."""
    if fmt == "parquet":
        pa, _ = pyarrow_modules()
        unreadable: tuple[type[BaseException], ...] = (pa.ArrowException, OSError)
    else:
        unreadable = (csv.Error, UnicodeDecodeError, OSError)
    try:
        yield from _parse_rows(path, fmt)
    except unreadable as exc:
        raise ExportInvalid(
            f"{path} is not a readable {fmt} export file: {exc}", evidence=str(path)
        ) from exc


def _parse_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "parquet":
        _, pq = pyarrow_modules()
        pf = pq.ParquetFile(path)
        if list(pf.schema_arrow.names) != list(COLUMN_NAMES):
            raise ExportInvalid(
                f"{path} columns {pf.schema_arrow.names} are not the export's", evidence=str(path)
            )
        for batch in pf.iter_batches(batch_size=READ_BATCH_ROWS):
            yield from batch.to_pylist()
        return
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != list(COLUMN_NAMES):
            raise ExportInvalid(f"{path} header {header} is not the export's", evidence=header)
        for line_no, values in enumerate(reader, start=2):
            if len(values) != len(COLUMNS):
                raise ExportInvalid(f"{path}:{line_no} has {len(values)} fields", evidence=values)
            try:
                yield {c.name: _csv_parse(c, v) for c, v in zip(COLUMNS, values, strict=True)}
            except ValueError as exc:
                raise ExportInvalid(f"{path}:{line_no}: {exc}", evidence=values) from exc


def read_export(folder: str | Path, *, also_devices: Iterable[str] = ()) -> Iterator[Record]:
    """Every record of a verified export, each exactly once. Raises ExportInvalid before the
    first record if the manifest or a file's hash is wrong, or if a stream names a device
    other than the exporting one (or `also_devices`: devices whose records that one carries,
    e.g. terminals posting to its HTTP ingest, named by the importer, not by the export), and
    at the end if the counts do not match (an importer should commit only once the iterator
    finished cleanly). Memory: per stream, not per record."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    allowed = {manifest["device"], *also_devices}
    for s in manifest["streams"]:
        if s["device"] not in allowed:
            raise ExportInvalid(
                f"stream {s['stream']!r} names device {s['device']!r}, but the export is "
                f"{manifest['device']!r}'s (import with --also-device if it carries that "
                "device's records)",
                evidence=s,
            )
    verify_files(folder, manifest)
    expected = {(s["device"], s["stream"]): s for s in manifest["streams"]}
    seen: dict[tuple[str, str], list[int]] = {}  # first seq, last seq, count
    total = 0
    for entry in manifest["files"]:
        path = folder / entry["name"]
        in_file = 0
        for row in _iter_rows(path, manifest["file_format"]):
            try:
                rec = row_to_record(row)
            except EnvelopeError as exc:
                raise ExportInvalid(f"{path}: bad record: {exc}", evidence=row) from exc
            key = (rec.device, rec.stream)
            want = expected.get(key)
            if want is None or rec.cls != entry["cls"] or rec.cls != want["cls"]:
                raise ExportInvalid(
                    f"{path}: record {rec.identity} ({rec.cls}) is not in "
                    "the manifest for this file",
                    evidence=row,
                )
            s = seen.get(key)
            if s is not None and rec.seq <= s[1]:
                raise ExportInvalid(
                    f"{path}: {rec.identity} repeats or goes back (after seq {s[1]})", evidence=row
                )
            if not want["first_seq"] <= rec.seq <= want["last_seq"]:
                raise ExportInvalid(
                    f"{path}: {rec.identity} outside the manifest range "
                    f"{want['first_seq']}-{want['last_seq']}",
                    evidence=row,
                )
            if s is None:
                seen[key] = [rec.seq, rec.seq, 1]
            else:
                s[1], s[2] = rec.seq, s[2] + 1
            in_file += 1
            total += 1
            yield rec
        if in_file != entry["records"]:
            raise ExportInvalid(
                f"{path} holds {in_file} records, the manifest says {entry['records']}",
                evidence=entry,
            )
    for key, want in expected.items():
        got = seen.get(key)
        got_t = (got[0], got[1], got[2]) if got else None
        if got_t != (want["first_seq"], want["last_seq"], want["records"]):
            raise ExportInvalid(
                f"stream {key} read {got_t}, the manifest says "
                f"{(want['first_seq'], want['last_seq'], want['records'])}",
                evidence=want,
            )
    if total != manifest["records"]:
        raise ExportInvalid(
            f"{total} records read, the manifest says {manifest['records']}",
            evidence=manifest["records"],
        )


def export_folders(root: str | Path) -> Iterable[Path]:
    """`root` itself if it is an export, else the exports directly inside it (a stick)."""
    root = Path(root)
    if (root / MANIFEST).exists():
        return [root]
    return sorted(p for p in root.iterdir() if (p / MANIFEST).exists())
