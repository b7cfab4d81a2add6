"""The one thread that writes to the log: group commit for concurrent requests.

SQLite calls block, so they never run on the event loop. Requests queue their record groups;
the writer takes everything waiting (up to a record cap) and commits it in one transaction,
so one fsync serves every request in it. Each request's future resolves only after the
commit that holds its records returned. If a combined commit fails, each request in it is
retried alone, so one request's refusal (log full) or fault never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from components.core.log import KeyedAppend, KeyedResult, Log

log = logging.getLogger("floorline.http_ingest.writer")


@dataclass
class _Job:
    groups: list[KeyedAppend]
    future: asyncio.Future[list[KeyedResult]]
    loop: asyncio.AbstractEventLoop
    records: int = field(init=False)

    def __post_init__(self) -> None:
        self.records = sum(len(g.records) for g in self.groups)


@dataclass
class WriterStats:
    commits: int = 0
    records: int = 0
    requests: int = 0
    largest_commit_requests: int = 0
    split_commits: int = 0  # combined commits that failed and were retried request by request
    failed_requests: int = 0


class CommitWriter:
    def __init__(
        self,
        lg: Log,
        *,
        max_commit_records: int = 2000,
        key_retention_s: float = 86_400.0,
        max_keys: int = 100_000,
    ) -> None:
        self._log = lg
        self.max_commit_records = max_commit_records
        self.key_retention_s = key_retention_s
        self.max_keys = max_keys
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self.stats = WriterStats()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join()

    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, groups: list[KeyedAppend]) -> list[KeyedResult]:
        """Results per group, once they are durably committed. Raises what the log raised
        (BudgetExceeded: nothing of this request was written)."""
        loop = asyncio.get_running_loop()
        job = _Job(groups, loop.create_future(), loop)
        self._queue.put(job)
        return await job.future

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                return
            jobs, records = [job], job.records
            while records < self.max_commit_records:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                jobs.append(nxt)
                records += nxt.records
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            # A combined attempt that fails is retried request by request below; only those
            # retries count refusals in the log, so a refused record is counted once.
            results = self._append([g for j in jobs for g in j.groups], len(jobs) == 1)
        except Exception as exc:  # isolated below, request by request
            if len(jobs) == 1:
                self.stats.failed_requests += 1
                _resolve([(jobs[0], None, exc)])
                return
            self.stats.split_commits += 1
            log.info("event=group_commit_split requests=%d error=%r", len(jobs), exc)
            for j in jobs:
                self._commit([j])
            return
        self.stats.commits += 1
        self.stats.requests += len(jobs)
        self.stats.records += sum(j.records for j in jobs)
        self.stats.largest_commit_requests = max(self.stats.largest_commit_requests, len(jobs))
        at = 0
        settled: list[tuple[_Job, Any, BaseException | None]] = []
        for j in jobs:
            settled.append((j, results[at : at + len(j.groups)], None))
            at += len(j.groups)
        _resolve(settled)

    def _append(self, groups: list[KeyedAppend], final: bool) -> list[KeyedResult]:
        return self._log.append_keyed(
            groups,
            may_evict_own_class=False,  # HTTP events are refused (429), never evict each other
            key_retention_s=self.key_retention_s,
            max_keys=self.max_keys,
            count_refusals=final,
        )


def _resolve(settled: list[tuple[_Job, Any, BaseException | None]]) -> None:
    """Hand results to the event loop(s): one wake-up per loop per commit, not per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any, BaseException | None]]] = {}
    for item in settled:
        by_loop.setdefault(item[0].loop, []).append(item)

    def settle(items: list[tuple[_Job, Any, BaseException | None]]) -> None:
        for job, result, exc in items:
            if job.future.done():  # the client went away; its records are committed anyway
                continue
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(settle, items)
        except RuntimeError:  # the loop closed during shutdown: nobody is waiting any more
            log.info("event=results_after_loop_closed requests=%d", len(items))
