"""The sequence high-water mark, kept in a small file beside the log so that damage to the log
cannot take it.

Every sequence number the log ever handed out, in any stream, is at most the mark. The log
reserves numbers ahead in blocks (`RESERVE_BLOCK`), so the mark is written durably once per
block of numbers on the busiest stream, never per append. A salvage, or a log file that
vanished, resumes every stream above the mark: identities are never reused even when the
log's own counters are unreadable or stale.

The file is replaced atomically (written aside, fsynced, renamed, directory fsynced), so a
crash leaves the old mark or the new one, never a torn one; it is only ever raised.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from components.core.durable import replace_durably

MARK_SUFFIX = ".seqmark"
# Numbers reserved per durable write of the mark: one write per 65,536 records of a stream.
RESERVE_BLOCK = 1 << 16
_MAGIC = "floorline-seqmark 1"


class SeqMarkDamaged(Exception):
    """The mark file exists but does not hold a valid mark (its text is the evidence)."""


def mark_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + MARK_SUFFIX)


def read_mark(path: Path) -> int | None:
    """The mark in `path`; None if there is none. A permission error propagates (an error,
    not damage); a garbled file raises SeqMarkDamaged."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    parts = text.split()
    if len(parts) != 4 or " ".join(parts[:2]) != _MAGIC:
        raise SeqMarkDamaged(f"{path}: not a sequence mark: {text[:80]!r}")
    value, crc = parts[2], parts[3]
    if not value.isdigit() or f"{zlib.crc32(value.encode()):08x}" != crc:
        raise SeqMarkDamaged(f"{path}: checksum does not match: {text[:80]!r}")
    return int(value)


def write_mark(path: Path, value: int) -> None:
    """Durably replace the mark with `value` (the caller never lowers it)."""
    text = f"{_MAGIC} {value} {zlib.crc32(str(value).encode()):08x}\n"
    replace_durably(path, text.encode("ascii"))
