"""Reading a SQLite WAL file by hand: telling damage from a normal end, and replaying the
frames that verify into a copy of the database.

SQLite ignores a WAL whose header is damaged and stops at the first frame whose checksum
fails, so commits written after damage would silently vanish (and the WAL be deleted at the
next close). Here a WAL with committed-looking frames beyond such a point is reported as
damage, and the salvage replays every frame that verifies, frame by frame.

Format: https://www.sqlite.org/fileformat2.html#walformat (32-byte header; each frame a
24-byte header and one page; checksums are cumulative over the header and frames, in the
byte order the magic number names).
"""

from __future__ import annotations

import shutil
import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_HEADER = 32
_FRAME_HEADER = 24
_MAGIC = 0x377F0682  # | 1: checksums over big-endian words
_MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class _Frame:
    offset: int
    pgno: int
    commit_pages: int  # the database size in pages after a commit frame, else 0
    salt: tuple[int, int]
    stored: tuple[int, int]


def _checksum(data: bytes, big: bool, s0: int, s1: int) -> tuple[int, int]:
    words = array("I", data)
    if big == (sys.byteorder == "little"):
        words.byteswap()
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & _MASK
        s1 = (s1 + words[i + 1] + s0) & _MASK
    return s0, s1


def _page_size(value: int) -> int | None:
    size = 65536 if value == 1 else value
    return size if 512 <= size <= 65536 and size & (size - 1) == 0 else None


class _Wal:
    def __init__(self, path: Path, db_page_size: int | None) -> None:
        self.data = path.read_bytes()
        head = self.data[:_HEADER]
        self.header_ok = False
        self.big = True
        self.salt = (0, 0)
        self.seed = (0, 0)
        self.page_size = db_page_size
        if len(head) == _HEADER:
            magic, version, psize, _ckpt, s1, s2, c1, c2 = struct.unpack(">8I", head)
            self.big = bool(magic & 1)
            self.salt, self.seed = (s1, s2), (c1, c2)
            self.header_ok = (
                magic & ~1 == _MAGIC
                and version == 3007000
                and _page_size(psize) is not None
                and _checksum(head[:24], self.big, 0, 0) == (c1, c2)
            )
            if self.header_ok or (db_page_size is None and _page_size(psize)):
                self.page_size = _page_size(psize)

    def frames(self) -> Iterator[_Frame]:
        if not self.page_size:
            return
        step = _FRAME_HEADER + self.page_size
        for off in range(_HEADER, len(self.data) - step + 1, step):
            pgno, commit, s1, s2, c1, c2 = struct.unpack(">6I", self.data[off : off + 24])
            yield _Frame(off, pgno, commit, (s1, s2), (c1, c2))

    def verifies(self, frame: _Frame, seed: tuple[int, int], big: bool) -> bool:
        d = self.data[frame.offset : frame.offset + _FRAME_HEADER + (self.page_size or 0)]
        s = _checksum(d[:8], big, *seed)
        return _checksum(d[_FRAME_HEADER:], big, *s) == frame.stored

    def accepted(self, big: bool, salt: tuple[int, int]) -> list[_Frame]:
        """Frames of the current generation that verify, each against its predecessor's
        stored checksum (so one damaged frame does not condemn the ones after it), up to the
        last such commit frame; frames after it never committed."""
        out: list[_Frame] = []
        last_commit = -1
        seed = self.seed
        for f in self.frames():
            if f.salt == salt and self.verifies(f, seed, big):
                out.append(f)
                if f.commit_pages:
                    last_commit = len(out)
            seed = f.stored
        return out[:last_commit] if last_commit > 0 else []

    def valid_prefix(self) -> int:
        """How many frames SQLite itself would read: the unbroken verified chain."""
        n, seed = 0, self.seed
        for f in self.frames():
            if f.salt != self.salt or not self.verifies(f, seed, self.big):
                break
            n, seed = n + 1, f.stored
        return n

    def best(self) -> tuple[list[_Frame], str]:
        if self.header_ok:
            return self.accepted(self.big, self.salt), "header"
        first = next(self.frames(), None)
        if first is None:
            return [], "none"
        options = [self.accepted(big, first.salt) for big in (True, False)]
        return max(options, key=len), "frames"


def _db_page_size(db: Path) -> int | None:
    try:
        with open(db, "rb") as f:
            head = f.read(18)
    except OSError:
        return None
    return _page_size(struct.unpack(">H", head[16:18])[0]) if len(head) == 18 else None


def wal_problem(db: Path) -> str | None:
    """None if the WAL beside `db` holds nothing SQLite would fail to read; else what is
    wrong. Only for a file no connection has open (a live WAL changes while being read)."""
    path = Path(f"{db}-wal")
    if not path.exists() or path.stat().st_size == 0:
        return None
    wal = _Wal(path, _db_page_size(db))
    frames, _how = wal.best()
    if not wal.header_ok:
        return f"WAL header damaged; {len(frames)} committed frames behind it" if frames else None
    end_of_prefix = _HEADER + wal.valid_prefix() * (_FRAME_HEADER + (wal.page_size or 0))
    beyond = [f for f in frames if f.offset >= end_of_prefix]
    if beyond:
        return f"WAL damaged at offset {end_of_prefix}; {len(beyond)} committed frames after it"
    return None


def replay(db: Path, wal_path: Path, out: Path) -> int:
    """Write into `out` a copy of `db` with every verified, committed frame of `wal_path`
    applied in order; returns how many frames were applied."""
    shutil.copyfile(db, out)
    if not wal_path.exists():
        return 0
    wal = _Wal(wal_path, _db_page_size(db))
    frames, _how = wal.best()
    if not frames or not wal.page_size:
        return 0
    size = wal.page_size
    with open(out, "r+b") as f:
        for fr in frames:
            start = fr.offset + _FRAME_HEADER
            f.seek((fr.pgno - 1) * size)
            f.write(wal.data[start : start + size])
        f.truncate(frames[-1].commit_pages * size)
    return len(frames)
