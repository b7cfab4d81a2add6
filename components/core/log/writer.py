"""Appending: records get their identity (`seq` gapless per stream, assigned in the committing
transaction) and are committed durably, within the budget, in one transaction per call."""

from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any, TypeVar

from components.core.clock import Clock
from components.core.envelope import SCHEMA_VERSION
from components.core.log.budget import Budget
from components.core.log.consumers import Consumers
from components.core.log.db import Db
from components.core.log.epochs import Epochs
from components.core.log.errors import BudgetExceeded, LogError
from components.core.log.records import KeyedAppend, KeyedResult, NewRecord, Run, runs_of
from components.core.log.rows import body_item, body_items, encode_items, encode_json
from components.core.log.schema import INSERT_MIXED, INSERT_RUN, RANK
from components.core.log.sequence import SeqReservation
from components.core.log.streams import Stream, Streams

_loads = json.JSONDecoder().decode
# Idempotency keys older than this may be pruned, a bounded number per commit.
_KEY_PRUNE_ROWS = 256
_T = TypeVar("_T")


class Writer:
    def __init__(
        self,
        db: Db,
        clock: Clock,
        device: str,
        streams: Streams,
        seqs: SeqReservation,
        epochs: Epochs,
        budget: Budget,
        consumers: Consumers,
    ) -> None:
        self._db = db
        self._clock = clock
        self._device = device
        self._streams = streams
        self._seqs = seqs
        self._epochs = epochs
        self._budget = budget
        self._consumers = consumers

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
        """Append many records of one stream in a single durable transaction."""
        run = Run(device or self._device, stream, cls, list(payloads), mono_ns, wall_ms)
        if not run.payloads:
            return []
        with self._db.lock:
            return self._write(len(run.payloads), cls, lambda: self._insert([run], True))

    def append_records(
        self,
        records: Sequence[NewRecord],
        *,
        may_evict_own_class: bool = True,
        ack: tuple[str, Mapping[str, int]] | None = None,
        checkpoint: Mapping[str, str] | None = None,
    ) -> list[int]:
        """Append records (any streams) in one transaction; returns their sequence numbers.

        `ack=(consumer, cursor)` and `checkpoint={name: text, ...}` commit in the same
        transaction, so a consumer that derives records from its input can never emit them
        twice or lose its state across a crash.

        Raises BudgetExceeded (nothing written) if the log is full of records these may not
        push out; EnvelopeError (nothing written) for a bad stream, class, device or payload.
        """
        if not records and ack is None and not checkpoint:
            return []

        runs = runs_of(records, self._device)

        def body() -> list[int]:
            seqs = self._insert(runs, may_evict_own_class) if runs else []
            now = self._clock.wall_ms()
            if ack is not None:
                self._consumers.ack_rows(ack[0], ack[1], now)
            if checkpoint:
                self._consumers.save_checkpoints(checkpoint, now)
            return seqs

        with self._db.lock:
            return self._write(len(records), records[0].cls if records else None, body)

    def append_keyed(
        self,
        groups: Sequence[KeyedAppend],
        *,
        may_evict_own_class: bool = True,
        key_retention_s: float = 86_400.0,
        max_keys: int = 100_000,
        count_refusals: bool = True,
    ) -> list[KeyedResult]:
        """Append groups of records in one transaction, each at most once per idempotency key.

        The keys are stored in the same transaction as the records, so a crash can never keep
        one without the other. A known key (stored earlier, or earlier in `groups`) writes
        nothing and returns the identities first assigned. Keys are kept at least
        `key_retention_s` (wall time) unless more than `max_keys` exist; the oldest go first.
        Errors as `append_records` (nothing written, no key stored). `count_refusals=False`
        is for a caller that will retry the groups one by one after a refusal (group commit):
        only those retries are counted.
        """
        with self._db.lock:
            fresh = [r for g in groups if self.known(g.key) is None for r in g.records]
            return self._write(
                len(fresh),
                fresh[0].cls if fresh else None,
                lambda: self._insert_keyed(
                    groups, may_evict_own_class, int(key_retention_s * 1000), max_keys
                ),
                count_refusals,
            )

    def known(self, key: str | None) -> tuple[str, str] | None:
        """The (fingerprint, identities) stored with an idempotency key, if it is known."""
        if key is None:
            return None
        return self._db.conn.execute(
            "SELECT fingerprint, identities FROM idempotency WHERE key=?", (key,)
        ).fetchone()

    def quarantine(self, body: str | bytes, reason: str) -> None:
        """Keep aside something that could not be accepted as a record (never drop it)."""
        text = body if isinstance(body, str) else body.hex()
        with self._db.lock, self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO quarantine(reason, body, wall_ms) VALUES (?,?,?)",
                (reason, text, self._clock.wall_ms()),
            )
            self._db.bump("quarantined", 1)

    def _insert_keyed(
        self, groups: Sequence[KeyedAppend], may_evict: bool, retention_ms: int, max_keys: int
    ) -> list[KeyedResult]:
        """Inside the write transaction: the records of unknown keys, then the keys."""
        results: list[KeyedResult | None] = []
        first_of: dict[str, int] = {}  # key -> index of the group that writes it
        fresh: list[NewRecord] = []
        spans: list[tuple[int, int, int]] = []  # group index, first, end in `fresh`
        for i, g in enumerate(groups):
            stored = self.known(g.key)
            if stored is not None:
                ids = [(d, s, q) for d, s, q in _loads(stored[1])]
                results.append(KeyedResult(ids, True, stored[0]))
            elif g.key is not None and g.key in first_of:
                results.append(None)  # a repeat within this call: filled in below
            else:
                if g.key is not None:
                    first_of[g.key] = i
                spans.append((i, len(fresh), len(fresh) + len(g.records)))
                fresh.extend(g.records)
                results.append(None)
        seqs = self._insert(runs_of(fresh, self._device), may_evict) if fresh else []
        now = self._clock.wall_ms()
        keyed_rows = []
        for i, lo, hi in spans:
            ids = [
                (r.device or self._device, r.stream, seq)
                for r, seq in zip(fresh[lo:hi], seqs[lo:hi], strict=True)
            ]
            g = groups[i]
            results[i] = KeyedResult(ids, False, g.fingerprint)
            if g.key is not None:
                keyed_rows.append((g.key, g.fingerprint, encode_json(ids), now))
        for i, g in enumerate(groups):
            if results[i] is None:
                first = results[first_of[g.key]]  # type: ignore[index]
                assert first is not None
                results[i] = KeyedResult(first.identities, True, first.fingerprint)
        if keyed_rows:
            c = self._db.conn
            c.executemany(
                "INSERT INTO idempotency(key, fingerprint, identities, wall_ms) VALUES (?,?,?,?)",
                keyed_rows,
            )
            c.execute(
                "DELETE FROM idempotency WHERE id <= (SELECT max(id) FROM idempotency) - ?",
                (max_keys,),
            )
            c.execute(
                "DELETE FROM idempotency WHERE id IN "
                "(SELECT id FROM idempotency ORDER BY id LIMIT ?) AND wall_ms < ?",
                (_KEY_PRUNE_ROWS, now - retention_ms),
            )
        return [r for r in results if r is not None]

    def _write(
        self,
        n_records: int,
        first_cls: str | None,
        body: Callable[[], _T],
        count_refusals: bool = True,
    ) -> _T:
        """Run `body` in one write transaction (the caller holds the lock); on a refusal,
        count the `n_records` records it was writing as refused."""
        budget = self._budget
        c = self._db.begin()
        try:
            result = body()
            budget.persist_refusals()
            c.execute("COMMIT")
        except BudgetExceeded as exc:
            self._db.rollback()
            if count_refusals:
                budget.count_refusal(exc.cls, n_records)
            raise
        except (sqlite3.OperationalError, OSError) as exc:
            self._db.rollback()
            # The filesystem filled before the floor caught it (another program wrote): SQLite
            # says so, or the sequence mark could not be written.
            disk_full = (
                "full" in str(exc)
                if isinstance(exc, sqlite3.OperationalError)
                else exc.errno in (errno.ENOSPC, errno.EDQUOT)
            )
            if not disk_full or first_cls is None:
                raise
            if count_refusals:
                budget.count_refusal(first_cls, n_records)
            raise BudgetExceeded(
                f"disk full: {exc}",
                cls=first_cls,
                used_bytes=-1,
                budget_bytes=budget.budget_bytes,
            ) from exc
        except BaseException:
            self._db.rollback()
            raise
        self._streams.committed()
        budget.committed()
        return result

    def _insert(self, runs: Sequence[Run], may_evict_own_class: bool) -> list[int]:
        """Inside the write transaction: insert the runs' records, assigning their sequence
        numbers (in record order); returns them."""
        clock_col = self._epochs.clock_column()
        now_mono, now_wall = self._clock.monotonic_ns(), self._clock.wall_ms()
        streams: list[Stream] = []
        counts: dict[int, int] = {}
        for run in runs:
            st = self._streams.for_record(run.device, run.stream, run.cls, run.payloads[0])
            streams.append(st)
            counts[st.sid] = counts.get(st.sid, 0) + len(run.payloads)
        next_seq = {sid: self._streams.take_seqs(sid, n) for sid, n in counts.items()}
        top = max(next_seq[sid] + n - 1 for sid, n in counts.items())
        if top > self._seqs.reserved:
            self._seqs.reserve(top)
        seqs: list[int] = []
        by_cls: dict[str, list[tuple[Stream, Run, int]]] = {}
        for st, run in zip(streams, runs, strict=True):
            first = next_seq[st.sid]
            next_seq[st.sid] = first + len(run.payloads)
            seqs.extend(range(first, first + len(run.payloads)))
            by_cls.setdefault(st.cls, []).append((st, run, first))
        statements: dict[str, tuple[str, tuple[Any, ...], int]] = {}
        incoming = 0
        for rec_cls, parts in by_cls.items():
            if len(parts) == 1:
                st, run, first = parts[0]
                text = encode_items(body_items(st.fields, run.payloads), run.payloads)
                params: tuple[Any, ...] = (
                    st.sid,
                    first,
                    now_mono if run.mono_ns is None else run.mono_ns,
                    now_wall if run.wall_ms is None else run.wall_ms,
                    clock_col,
                    SCHEMA_VERSION,
                    text,
                )
                statements[rec_cls] = (INSERT_RUN[rec_cls], params, len(run.payloads))
            else:
                elements: list[Any] = []
                payloads: list[Any] = []
                for st, run, first in parts:
                    mono = now_mono if run.mono_ns is None else run.mono_ns
                    wall = now_wall if run.wall_ms is None else run.wall_ms
                    if len(run.payloads) == 1:  # records with their own timestamps
                        item = body_item(st.fields, run.payloads[0])
                        elements.append((st.sid, first, mono, wall, item))
                    else:
                        n = len(run.payloads)
                        elements.extend(
                            zip(
                                repeat(st.sid, n),
                                range(first, first + n),
                                repeat(mono, n),
                                repeat(wall, n),
                                body_items(st.fields, run.payloads),
                                strict=True,
                            )
                        )
                    payloads.extend(run.payloads)
                text = encode_items(elements, payloads)
                params = (clock_col, SCHEMA_VERSION, text)
                statements[rec_cls] = (INSERT_MIXED[rec_cls], params, len(payloads))
            # ~24 bytes of row header and integer columns per record besides its body.
            incoming += len(text) + 24 * statements[rec_cls][2]
        c = self._db.conn
        for rec_cls in sorted(statements, key=RANK.__getitem__, reverse=True):
            self._budget.make_room(incoming, rec_cls, may_evict_own_class)
            sql, params, n = statements[rec_cls]
            inserted = c.execute(sql, params).rowcount
            if inserted != n:  # never seen; a JSON split gone wrong must not pass silently
                raise LogError(f"inserted {inserted} of {n} {rec_cls} records; rolled back")
        return seqs
