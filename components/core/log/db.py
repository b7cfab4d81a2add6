"""The connection to the log file and the write transactions every part of the log runs in.

`lock` orders this process's threads; `BEGIN IMMEDIATE` orders the processes sharing the file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from components.core.log.errors import LogError
from components.core.log.file import SQLITE_READONLY_DBMOVED, closed_here, opened_here
from components.core.log.file import identity as file_identity
from components.core.log.schema import connect

log = logging.getLogger("floorline.log")


class Db:
    """One connection to the log at `path`. `reopen` opens the file that is the log now
    (waiting for its salvage) when another process moved this one aside; `on_rollback` are
    told when a transaction is rolled back, to forget what it created."""

    def __init__(self, path: Path, busy_timeout_s: float, reopen: Callable[[], None]) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.lock = threading.RLock()
        self.on_rollback: list[Callable[[], None]] = []
        self.page_size = 0
        self._reopen = reopen
        self._ident: tuple[int, int] | None = None

    def attach(self) -> None:
        self.conn = connect(self.path, self.busy_timeout_s)
        self._ident = file_identity(self.path)
        if self._ident is not None:
            opened_here(self._ident)
        self.page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]

    def detach(self) -> None:
        if self._ident is not None:
            closed_here(self._ident)
            self._ident = None
        self.conn.close()

    def begin(self) -> sqlite3.Connection:
        """BEGIN IMMEDIATE on the file that is the log now. If another process moved a damaged
        file aside since this one opened it, reopen (waiting for its salvage) rather than
        write where nothing reads. Returns the connection in the transaction."""
        for _ in range(5):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) != SQLITE_READONLY_DBMOVED:
                    raise
            else:
                if file_identity(self.path) == self._ident:
                    return self.conn
                self.conn.execute("ROLLBACK")
            log.warning("event=log_reopened path=%s reason=file_replaced", self.path)
            self.detach()
            self._reopen()
        raise LogError(f"{self.path} keeps being replaced while opening it")

    def rollback(self) -> None:
        if self.conn.in_transaction:  # SQLite may have rolled back itself (disk full)
            self.conn.execute("ROLLBACK")
        for forget in self.on_rollback:
            forget()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        c = self.begin()
        try:
            yield c
            c.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise

    def set_meta(self, key: str, value: object) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, str(value)),
        )

    def bump(self, name: str, n: int) -> None:
        """Inside a write transaction: add `n` to the durable counter `name`."""
        self.conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )
