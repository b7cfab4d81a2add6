"""The console's window on the durable log: opened through the log's own API, plus the few
facts the API does not expose, read on a separate read-only connection (never a write)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from components.console.config import ConsoleSettings
from components.core.clock import Clock
from components.core.envelope import Record
from components.core.log import LOG_FORMAT_VERSION, Log
from components.core.log.config import open_log as open_configured_log


class LogUnavailable(Exception):
    """The log cannot be opened: missing, not a floorline log, or not readable by this user."""

    def __init__(self, message: str, path: str, remedy: str) -> None:
        super().__init__(message)
        self.path = path
        self.remedy = remedy


@contextmanager
def read_only(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (SQLite refuses any write on it), in one read transaction."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN")  # one WAL snapshot for everything read through it
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def check_log_file(path: str | Path) -> None:
    """Raise LogUnavailable unless `path` is a floorline log this user can read."""
    p = Path(path)
    if not p.exists():
        raise LogUnavailable(
            f"no log at {p}",
            str(p),
            "check logPath in the console configuration (--log PATH), or start the components",
        )
    try:
        with read_only(p) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key='log_format'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise LogUnavailable(
            f"{p} is not a readable floorline log: {exc}",
            str(p),
            "run as the component user or with sudo; if the file is damaged, "
            "the next component start salvages it",
        ) from exc
    if row is None or row[0] != str(LOG_FORMAT_VERSION):
        raise LogUnavailable(
            f"{p} has log format {row[0] if row else None!r}, this console reads "
            f"{LOG_FORMAT_VERSION}",
            str(p),
            "update floorline on this device",
        )


def open_log(cfg: ConsoleSettings, clock: Clock, device: str) -> Log:
    """The log through its API (used for stats and snapshots; the console never appends).
    Checked first, so the console never creates a log nor salvages someone else's file."""
    check_log_file(cfg.logPath)
    try:
        return open_configured_log(cfg, device, clock)
    except (sqlite3.OperationalError, PermissionError) as exc:
        raise LogUnavailable(
            f"cannot open {cfg.logPath}: {exc}",
            cfg.logPath,
            "run as the component user (sudo -u ggc_user floorline ...) or with sudo",
        ) from exc


@dataclass(frozen=True)
class ConsumerProgress:
    name: str
    cls: str
    acked_pos: int
    acked_wall_ms: int | None  # when this consumer's offset last moved


def consumer_progress(path: str | Path) -> list[ConsumerProgress]:
    with read_only(path) as conn:
        rows = conn.execute(
            "SELECT name, cls, acked_pos, acked_wall_ms FROM consumers ORDER BY name, cls"
        ).fetchall()
    return [ConsumerProgress(*r) for r in rows]


def health_by_stream(log: Log) -> dict[str, list[Record]]:
    """The health records still held in the log, per health stream, oldest first. Health
    records the uplink delivered are retired from the log, so a stream without a deciding
    record is 'unknown', never assumed fine."""
    out: dict[str, list[Record]] = {}
    for rec in log.snapshot_records(("health",)):
        out.setdefault(rec.stream, []).append(rec)
    for records in out.values():
        records.sort(key=lambda r: r.seq)
    return out
