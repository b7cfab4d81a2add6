"""The log at the file level: one opener at a time, damage told apart from errors, a damaged
file moved aside (never deleted) with a journal that lets a killed salvager's work be redone.

Why an flock: several components open the log at boot. Checking, moving aside and salvaging
must happen once, while the others wait; the kernel releases an flock when its holder dies,
so a killed salvager never blocks the next one.

Why no plain open() of the database, WAL or shm file while this process has a connection to
it: POSIX record locks belong to the process, and closing any descriptor of a file drops all
of them, SQLite's included. Files are inspected by hand only when no log in this process has
them open (`_open_here`), and only when no other process does (the shm's DMS lock).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import struct
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.core.durable import fsync_dir, replace_durably
from components.core.log.wal import wal_problem

log = logging.getLogger("floorline.log")

SUFFIXES = ("", "-wal", "-shm")
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
# SQLite refuses to write a file renamed since it was opened (SQLITE_READONLY_DBMOVED).
SQLITE_READONLY_DBMOVED = 1032
# The shm byte every connection holds a read lock on while it has the file open.
_SHM_DMS_OFFSET = 128

_open_here: Counter[tuple[int, int]] = Counter()


def identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def opened_here(ident: tuple[int, int]) -> None:
    _open_here[ident] += 1


def closed_here(ident: tuple[int, int]) -> None:
    _open_here[ident] -= 1
    if _open_here[ident] <= 0:
        del _open_here[ident]


@contextmanager
def opening_lock(path: Path) -> Iterator[None]:
    """Held while one process checks, salvages and connects to the log at `path`."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _in_use(path: Path) -> bool:
    """Whether a connection (here or in another process) has the file open."""
    ident = identity(path)
    if ident is not None and ident in _open_here:
        return True
    try:
        fd = os.open(f"{path}-shm", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _SHM_DMS_OFFSET, 1, 0)
        got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe)
        return struct.unpack("hhqqi4x", got)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def check(path: Path, busy_timeout_s: float) -> str | None:
    """None if `path` is a healthy log, else what is damaged. A file this user may not read
    or write raises PermissionError (an error to fix, not damage to salvage); SQLite errors
    other than corruption (I/O, cannot open) propagate."""
    for suffix in SUFFIXES:
        f = f"{path}{suffix}"
        if os.path.exists(f) and not os.access(f, os.R_OK | os.W_OK):
            raise PermissionError(
                errno.EACCES,
                f"the log file cannot be read and written by uid {os.getuid()}: fix its "
                "owner or mode; it was left as it is",
                f,
            )
    if not _in_use(path):
        problem = wal_problem(path)
        if problem is not None:
            return problem
    try:
        # Read-only: a read-write connection closing last would checkpoint into the damaged
        # file and delete its WAL.
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_timeout_s)
        try:
            result = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return str(exc)
        raise
    if result != [("ok",)]:
        return "; ".join(r[0] for r in result[:5])
    return None


def _journal(path: Path) -> Path:
    return path.with_name(path.name + ".salvaging")


def move_aside(path: Path, busy_timeout_s: float) -> Path:
    """Move the damaged file (with its WAL and shm) aside as `<name>.corrupt-<time>-<pid>`,
    after writing a journal naming it, while holding the write lock if other processes have
    it open (so none commits between the salvage's read and the move)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
    replace_durably(_journal(path), target.name.encode())
    hold = None
    if _in_use(path):
        try:
            hold = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
            hold.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:  # too damaged to lock: nobody can write it
            log.warning("event=log_lock_for_move_failed path=%s error=%r", path, exc)
    try:
        for suffix in SUFFIXES:
            src = f"{path}{suffix}"
            if os.path.exists(src):
                os.rename(src, f"{target}{suffix}")
        fsync_dir(path.parent)
    finally:
        if hold is not None:
            hold.close()  # SQLite neither checkpoints nor deletes a moved file's WAL
    return target


def pending_salvage(path: Path) -> Path | None:
    """The moved-aside file a salvager died before finishing, if any (call under the
    opening lock)."""
    journal = _journal(path)
    try:
        name = journal.read_text().strip()
    except FileNotFoundError:
        return None
    source = path.with_name(name)
    if not source.exists() or _salvaged_from(path) == name:
        journal.unlink()  # killed before the move (the file is still in place), or finished
        return None
    if path.exists():  # the dead salvager's unfinished target: keep it, out of the way
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        for suffix in SUFFIXES:
            if os.path.exists(f"{path}{suffix}"):
                os.rename(f"{path}{suffix}", f"{path}.unfinished-{stamp}-{os.getpid()}{suffix}")
    log.warning("event=salvage_resumed path=%s source=%s", path, source)
    return source


def salvage_done(path: Path) -> None:
    _journal(path).unlink(missing_ok=True)
    fsync_dir(path.parent)


def _salvaged_from(path: Path) -> str | None:
    """What the healthy file at `path` records as salvaged from (meta), if anything."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='salvaged_from'").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return row[0] if row else None
