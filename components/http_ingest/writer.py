"""Group commit: the requests waiting are written in one transaction, one fsync for all.

`GroupCommitter` is the engine (no threads, no event loop): it takes the record groups of
several requests, commits them together and gives each request its own results. If a combined
commit fails, each request is retried alone, so one request's refusal (log full) or fault never
fails its neighbours. It runs in the commit process (`commit_process.py`), next to nothing
else, so a commit never waits for the HTTP side's interpreter lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from components.core.log import KeyedAppend, KeyedResult, Log

log = logging.getLogger("floorline.http_ingest.writer")

Outcome = list[KeyedResult] | BaseException  # per request: its results, or why it failed


@dataclass
class WriterStats:
    commits: int = 0
    records: int = 0
    requests: int = 0
    largest_commit_requests: int = 0
    split_commits: int = 0  # combined commits that failed and were retried request by request
    failed_requests: int = 0


class GroupCommitter:
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
        self.stats = WriterStats()

    def commit(self, requests: Sequence[list[KeyedAppend]]) -> list[Outcome]:
        """Each request's outcome, in order. The caller keeps each call to at most about
        `max_commit_records` records (a single request may exceed it: it is one unit)."""
        try:
            # A combined attempt that fails is retried request by request below; only those
            # retries count refusals in the log, so a refused record is counted once.
            results = self._append([g for r in requests for g in r], len(requests) == 1)
        except Exception as exc:  # isolated below, request by request
            if len(requests) == 1:
                self.stats.failed_requests += 1
                return [exc]
            self.stats.split_commits += 1
            log.info("event=group_commit_split requests=%d error=%r", len(requests), exc)
            return [self.commit([r])[0] for r in requests]
        self.stats.commits += 1
        self.stats.requests += len(requests)
        self.stats.records += sum(len(g.records) for r in requests for g in r)
        self.stats.largest_commit_requests = max(self.stats.largest_commit_requests, len(requests))
        out: list[Outcome] = []
        at = 0
        for r in requests:
            out.append(results[at : at + len(r)])
            at += len(r)
        return out

    def _append(self, groups: list[KeyedAppend], final: bool) -> list[KeyedResult]:
        return self._log.append_keyed(
            groups,
            may_evict_own_class=False,  # HTTP events are refused (429), never evict each other
            key_retention_s=self.key_retention_s,
            max_keys=self.max_keys,
            count_refusals=final,
        )
