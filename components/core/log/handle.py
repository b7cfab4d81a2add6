"""`Log`: this process's handle on the log, assembled from the parts in this package.

Opening checks the file, salvages a damaged one, and connects; every other call is one
part's: writing (`writer.py`), the budget (`budget.py`), consumers (`consumers.py`), clock
epochs (`epochs.py`), inspection (`inspection.py`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.core.clock import Clock, SystemClock
from components.core.envelope import CLASSES, Record, validate_device
from components.core.log.budget import Budget
from components.core.log.consumers import Consumers
from components.core.log.db import Db
from components.core.log.decode import Decoder
from components.core.log.epochs import Epochs
from components.core.log.file import check as check_file
from components.core.log.file import move_aside, opening_lock, pending_salvage, salvage_done
from components.core.log.inspection import Inspection
from components.core.log.records import KeyedAppend, KeyedResult, NewRecord, ReadBatch
from components.core.log.seqmark import mark_path
from components.core.log.sequence import SeqReservation
from components.core.log.streams import Streams
from components.core.log.writer import Writer

log = logging.getLogger("floorline.log")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        # No /proc (macOS): a monotonic clock that restarts from zero is a new boot.
        return f"boot-{int(time.time() - time.monotonic())}"


class Log:
    """See the package docstring. Open with `Log.open(path, device=...)`."""

    def __init__(
        self,
        path: Path,
        *,
        device: str,
        budget_bytes: int,
        free_floor_bytes: int,
        clock: Clock,
        boot_id: str,
        busy_timeout_s: float,
    ) -> None:
        self.path = path
        self.device = validate_device(device)
        self._clock = clock
        self._db = Db(path, busy_timeout_s, reopen=self._open_locked)
        self._seqs = SeqReservation(self._db, mark_path(path))
        self._streams = Streams(self._db, self._seqs, clock)
        self._epochs = Epochs(self._db, clock, boot_id)
        self._budget = Budget(self._db, clock, path, budget_bytes, free_floor_bytes)
        self._db.on_rollback += [self._streams.forget_uncommitted, self._budget.rolled_back]
        self._decoder = Decoder(self._streams, self._epochs)
        self._consumers = Consumers(self._db, clock, self._decoder)
        self._writer = Writer(
            self._db,
            clock,
            self.device,
            self._streams,
            self._seqs,
            self._epochs,
            self._budget,
            self._consumers,
        )
        self._inspection = Inspection(
            self._db, self.device, self._budget, self._epochs, self._decoder
        )
        with self._db.lock:
            self._open_locked()

    @property
    def budget_bytes(self) -> int:
        return self._budget.budget_bytes

    @property
    def free_floor_bytes(self) -> int:
        return self._budget.free_floor_bytes

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str,
        budget_bytes: int = 256 * 1024 * 1024,
        free_floor_bytes: int = 64 * 1024 * 1024,
        clock: Clock | None = None,
        boot_id: str | None = None,
        busy_timeout_s: float = 30.0,
    ) -> Log:
        """Open (creating if needed) the log at `path`; a damaged file is moved aside and
        salvaged into a fresh log, never deleted. Opening processes wait for one another, so
        one salvage happens while the others wait. A file this user may not read or write
        raises PermissionError and is left as it is."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return cls(
            p,
            device=device,
            budget_bytes=budget_bytes,
            free_floor_bytes=free_floor_bytes,
            clock=clock or SystemClock(),
            boot_id=boot_id or _boot_id(),
            busy_timeout_s=busy_timeout_s,
        )

    def _open_locked(self) -> None:
        """Check, salvage if damaged, and connect, with no other process doing the same."""
        p = self.path
        with opening_lock(p):
            salvage_from = pending_salvage(p)
            if salvage_from is None and p.exists() and p.stat().st_size > 0:
                problem = check_file(p, self._db.busy_timeout_s)
                if problem is not None:
                    salvage_from = move_aside(p, self._db.busy_timeout_s)
                    log.error(
                        "event=log_corrupt path=%s moved_to=%s problem=%r",
                        p,
                        salvage_from,
                        problem,
                    )
            self._db.attach()
            self._streams.clear()
            self._budget.attach()
            self._epochs.enter()
            self._seqs.reconcile()
            if salvage_from is not None:
                from components.core.log.salvage import salvage_into

                report = salvage_into(self, salvage_from)
                self._record_salvage(salvage_from, report)
                salvage_done(p)

    def _record_salvage(self, moved_to: Path, report: Mapping[str, int]) -> None:
        with self._db.lock, self._db.transaction():
            self._db.bump("salvage_events", 1)
            for k, v in report.items():
                self._db.bump(f"salvage.{k}", v)
        self.append(
            f"health/log@{self.device}",
            "health",
            {"event": "log_salvaged", "moved_to": moved_to.name, **report},
        )

    def close(self) -> None:
        with self._db.lock:
            try:
                self._db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.OperationalError as exc:  # busy with another process: harmless
                log.debug("event=checkpoint_skipped reason=%r", exc)
            self._db.detach()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing (writer.py)
    def append(
        self,
        stream: str,
        cls: str,
        payload: Mapping[str, Any],
        *,
        device: str | None = None,
        mono_ns: int | None = None,
        wall_ms: int | None = None,
    ) -> int:
        """Append one record and commit it durably; returns its sequence number."""
        return self._writer.append_batch(
            stream, cls, [payload], device=device, mono_ns=mono_ns, wall_ms=wall_ms
        )[0]

    def append_batch(
        self,
        stream: str,
        cls: str,
        payloads: Sequence[Mapping[str, Any]],
        *,
        device: str | None = None,
        mono_ns: int | None = None,
        wall_ms: int | None = None,
    ) -> list[int]:
        return self._writer.append_batch(
            stream, cls, payloads, device=device, mono_ns=mono_ns, wall_ms=wall_ms
        )

    def append_records(
        self,
        records: Sequence[NewRecord],
        *,
        may_evict_own_class: bool = True,
        ack: tuple[str, Mapping[str, int]] | None = None,
        checkpoint: Mapping[str, str] | None = None,
    ) -> list[int]:
        return self._writer.append_records(
            records, may_evict_own_class=may_evict_own_class, ack=ack, checkpoint=checkpoint
        )

    def append_keyed(
        self,
        groups: Sequence[KeyedAppend],
        *,
        may_evict_own_class: bool = True,
        key_retention_s: float = 86_400.0,
        max_keys: int = 100_000,
        count_refusals: bool = True,
    ) -> list[KeyedResult]:
        return self._writer.append_keyed(
            groups,
            may_evict_own_class=may_evict_own_class,
            key_retention_s=key_retention_s,
            max_keys=max_keys,
            count_refusals=count_refusals,
        )

    def quarantine(self, body: str | bytes, reason: str) -> None:
        self._writer.quarantine(body, reason)

    # ------------------------------------------------------------------ budget (budget.py)
    def used_bytes(self) -> int:
        return self._budget.used_bytes()

    # ------------------------------------------------------------------ consuming (consumers.py)
    def register_consumer(self, name: str, classes: Iterable[str] = CLASSES) -> None:
        self._consumers.register(name, classes)

    def unregister_consumer(self, name: str) -> None:
        self._consumers.unregister(name)

    def consumers(self) -> dict[str, dict[str, int]]:
        return self._consumers.offsets()

    def read(
        self,
        consumer: str,
        limit: int = 500,
        classes: Iterable[str] | None = None,
        after: Mapping[str, int] | None = None,
    ) -> ReadBatch:
        return self._consumers.read(consumer, limit, classes, after)

    def ack(self, consumer: str, batch: ReadBatch) -> None:
        """Acknowledge everything in `batch` (and everything before it, per class)."""
        self._consumers.ack_positions(consumer, batch.cursor())

    def ack_positions(self, consumer: str, cursor: Mapping[str, int]) -> None:
        self._consumers.ack_positions(consumer, cursor)

    def load_checkpoints(self, prefix: str) -> dict[str, str]:
        return self._consumers.load_checkpoints(prefix)

    # ------------------------------------------------------------------ clock (epochs.py)
    def clock_synced(self) -> bool:
        return self._epochs.clock_synced()

    # ------------------------------------------------------------------ inspection.py
    def data_version(self) -> int:
        return self._inspection.data_version()

    def stats(self) -> dict[str, Any]:
        return self._inspection.stats()

    def quick_stats(self) -> dict[str, Any]:
        return self._inspection.quick_stats()

    def streams(self) -> list[dict[str, Any]]:
        return self._inspection.streams()

    def stream_heads(self, cls: str) -> dict[str, tuple[int, int]]:
        return self._inspection.stream_heads(cls)

    def evictions(self) -> list[dict[str, Any]]:
        return self._inspection.evictions()

    def seq_skips(self) -> list[dict[str, Any]]:
        return self._inspection.seq_skips()

    def snapshot_records(self, classes: Iterable[str] = CLASSES) -> Iterable[Record]:
        return self._inspection.snapshot_records(classes)
