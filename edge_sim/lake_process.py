"""Firehose's place when deliveries are buffered: a process of its own between the rules and
the lake.

In AWS the rules engine and Firehose are separate services; here, with both in one interpreter,
the MQTT bridge (its client, TLS, the rules) and the lake's work (decode, dedup, Parquet) shared one
core whatever the machine had left (measured in load mode at 4,000 batches/s: the cloud process
at 100 % of a core, its lake thread 43 %). The bridge side hands each buffer of deliveries
over a pipe in one message; this process writes it to the lake in one call and counts it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("edge_sim.lake_process")


def _main(root: str, conn: Any, written: Any, rows: Any, duplicates: Any) -> None:
    from cloud.lake.store import Lake
    from components.core.clock import SystemClock

    # Ctrl-C reaches the whole process group; the runner then drains through this process
    # and tells it when it is done. It stops on that word, or when the runner is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with Lake(Path(root), clock=SystemClock()) as lake:
        while True:
            try:
                batches = conn.recv()
            except EOFError:  # the runner died: nothing more will come
                return
            if batches is None:  # the bridge side is done: everything sent is written
                return
            result = lake.ingest(batches)
            rows.value += result.rows_written
            duplicates.value += result.duplicates
            written.value += len(batches)


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may touch handlers; the child ignores them itself
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


class LakeProcessGone(RuntimeError):
    pass


class LakeProcess:
    """Buffers of deliveries in, written to the lake at `root` by another process."""

    def __init__(self, root: Path) -> None:
        ctx = mp.get_context("spawn")  # the caller runs threads: never fork it
        # Counters with one writer, the process (a reader may see one a delivery ahead).
        self._written, self._rows, self._duplicates = (ctx.Value("q", 0, lock=False)
                                                       for _ in range(3))  # fmt: skip
        self._conn, theirs = ctx.Pipe()
        self._proc = ctx.Process(
            target=_main, args=(str(root), theirs, self._written, self._rows, self._duplicates),
            name="lake-writer", daemon=True)  # fmt: skip
        self._theirs = theirs

    def start(self) -> None:
        with _interrupts_ignored():  # inherited across exec: covers the child's start-up too
            self._proc.start()
        self._theirs.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def written(self) -> int:
        """Deliveries written to the lake (or quarantined by it) so far."""
        return int(self._written.value)

    def stats(self) -> dict[str, int]:
        """What this process has written so far (the lake's own counters while it runs)."""
        return {
            "rows_written": int(self._rows.value),
            "duplicates_dropped": int(self._duplicates.value),
        }

    def send(self, batches: list[bytes]) -> None:
        """Raises LakeProcessGone if the process is not there to take them."""
        try:
            self._conn.send(batches)
        except OSError as exc:  # BrokenPipeError and kin
            raise LakeProcessGone(
                f"lake process {self._proc.pid} exited with {self._proc.exitcode}; "
                f"{len(batches)} deliveries not written"
            ) from exc

    def close(self, timeout_s: float = 120.0) -> None:
        """Wait until everything sent is written, then let the process end."""
        if self._proc.pid is None:
            return
        try:
            self._conn.send(None)
        except (BrokenPipeError, OSError):
            pass  # already gone: its exit code says why
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        if self._proc.exitcode != 0:
            log.error("event=lake_process_failed exitcode=%s", self._proc.exitcode)
        self._conn.close()
