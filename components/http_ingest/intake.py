"""From a body the HTTP process let in to its answer: records, rate, schemas, commit outcome.

Runs in the commit process, beside the log. The HTTP process checks what needs no body
(token, content type, Idempotency-Key, size, arrival, encoding) and hands over the device, the
key and the inflated bytes; everything after that happens here, in this order (cheapest
refusal first): JSON shape (400), devices named (403), the device's rate (429), each record
against its schema (400 naming the records), then the durable commit (202; 429 when the log is
full, 503 when it fails). Why here: on a busy gateway the HTTP process is the one that runs
out of CPU (measured: it spent about a quarter of its time on this work), and the commit
process had most of a core to spare.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.core.clock import Clock
from components.core.log import BudgetExceeded, KeyedAppend, KeyedResult
from components.http_ingest.answers import Answer, error, json_answer, log_unavailable
from components.http_ingest.ratelimit import RateLimiter
from components.http_ingest.records import (
    Accepted,
    BodyError,
    Rejected,
    check_record,
    foreign_devices,
    groups_for,
    is_request_key,
    parse_body,
)
from components.http_ingest.schemas import compile_validators
from components.http_ingest.writer import Outcome

log = logging.getLogger("floorline.http_ingest.intake")

# The configuration keys this side needs (sent as a "settings" frame at start and on updates).
INTAKE_KEYS = (
    "recordSchemas",
    "acceptUnknownTypes",
    "maxRecordsPerRequest",
    "maxRecordsPerSecondPerDevice",
    "burstRecordsPerDevice",
    "logFullRetryAfterSeconds",
    "maxCommitRecords",
    "idempotencyRetentionSeconds",
    "maxIdempotencyKeys",
)


@dataclass(frozen=True, slots=True)
class Plan:
    """A body that passed every check before the commit: what to write, how to answer."""

    checked: list[Accepted | Rejected]
    groups: list[tuple[KeyedAppend, list[Accepted]]]

    @property
    def appends(self) -> list[KeyedAppend]:
        return [g for g, _ in self.groups]


class Intake:
    """The policy in force (schemas, limits) and the counters of what it decided."""

    def __init__(self, settings: Mapping[str, Any], clock: Clock) -> None:
        self.counters: Counter[str] = Counter()
        self._clock = clock  # for the log-full time
        self.last_full_mono_ns: int | None = None
        self.limiter = RateLimiter(clock, 1.0, 1)  # its rate and burst are set by apply
        self.apply(settings)

    def apply(self, settings: Mapping[str, Any]) -> None:
        """New settings for the next body. Rate buckets are kept across updates (a device
        does not get a fresh burst because the schemas changed)."""
        self.validators = compile_validators(settings["recordSchemas"])
        self.accept_unknown = bool(settings["acceptUnknownTypes"])
        self.max_records = int(settings["maxRecordsPerRequest"])
        self.full_retry_after = str(settings["logFullRetryAfterSeconds"])
        self.limiter.rate_per_s = settings["maxRecordsPerSecondPerDevice"]
        self.limiter.burst = settings["burstRecordsPerDevice"]

    def prepare(self, device: str, request_key: str | None, raw: bytes) -> Plan | Answer:
        """The plan for `raw` (posted by `device`, authenticated), or the answer refusing it."""
        try:
            candidates = parse_body(raw, self.max_records)
        except BodyError as exc:
            self.counters["bad_body"] += 1
            return error(400, "bad_body", str(exc))
        others = foreign_devices(candidates, device)
        if others:
            self.counters["forbidden"] += 1
            return error(
                403,
                "wrong_device",
                f"the token is {device!r}'s; records name {sorted(others)[:3]}",
            )
        wait_s = self.limiter.take(device, len(candidates))
        if wait_s > 0:
            self.counters["rate_limited"] += 1
            retry = str(RateLimiter.retry_after_s(wait_s))
            return error(429, "rate_limited", "too many records", ("Retry-After", retry))
        validators, unknown_ok = self.validators, self.accept_unknown
        safe = b"\\u" not in raw  # no escapes: every decoded string encodes to UTF-8
        checked = [
            check_record(i, c, validators, unknown_ok, utf8_safe=safe)
            for i, c in enumerate(candidates)
        ]
        accepted = [c for c in checked if type(c) is Accepted]
        n_rejected = len(checked) - len(accepted)
        if n_rejected:
            self.counters["records_rejected"] += n_rejected
        if not accepted:
            return _answer(checked, {}, replayed=False)
        # The body's digest tells a retry from a reused key; without a key it is not needed.
        digest = hashlib.sha256(raw).hexdigest() if request_key is not None else ""
        return Plan(checked, groups_for(accepted, device, request_key, digest))

    def settle(self, plan: Plan, outcome: Outcome) -> Answer:
        """The answer once the plan's commit has an outcome."""
        if isinstance(outcome, BudgetExceeded):
            self.counters["log_full"] += 1
            self.last_full_mono_ns = self._clock.monotonic_ns()
            return error(
                429,
                "log_full",
                "the log has no room for events now; retry later",
                ("Retry-After", self.full_retry_after),
            )
        if isinstance(outcome, BaseException):  # a log fault (I/O error): honest 503
            self.counters["commit_failures"] += 1
            log.error("event=commit_failed error=%r", outcome)
            return log_unavailable()
        return self._settle(plan, outcome)

    def _settle(self, plan: Plan, results: Sequence[KeyedResult]) -> Answer:
        checked = plan.checked
        identities: dict[int, tuple[str, str, int, bool]] = {}
        conflicts: dict[int, str] = {}
        for (group, members), res in zip(plan.groups, results, strict=True):
            if res.replayed and res.fingerprint != group.fingerprint:
                if is_request_key(group.key):
                    self.counters["idempotency_conflicts"] += 1
                    return error(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different body",
                    )
                for a in members:
                    conflicts[a.index] = "'id' was already used for a different record"
                continue
            if len(res.identities) != len(members):
                # A request key stored by a different body shape; treat like a conflict.
                self.counters["idempotency_conflicts"] += 1
                return error(422, "idempotency_key_reused", "Idempotency-Key reused")
            for a, (dev, stream, seq) in zip(members, res.identities, strict=True):
                identities[a.index] = (dev, stream, seq, res.replayed)
        if conflicts:
            checked = [
                Rejected(c.index, [conflicts[c.index]]) if c.index in conflicts else c
                for c in checked
            ]
            self.counters["idempotency_conflicts"] += len(conflicts)
        replayed = bool(identities) and all(v[3] for v in identities.values())
        n_new = sum(1 for v in identities.values() if not v[3])
        self.counters["records_accepted"] += n_new
        self.counters["records_replayed"] += len(identities) - n_new
        return _answer(checked, identities, replayed)


def _answer(
    checked: Sequence[Accepted | Rejected],
    identities: dict[int, tuple[str, str, int, bool]],
    replayed: bool,
) -> Answer:
    results: list[dict[str, Any]] = []
    n_rejected = 0
    for c in checked:
        if isinstance(c, Rejected):
            n_rejected += 1
            results.append({"index": c.index, "status": "rejected", "errors": c.errors})
        else:
            dev, stream, seq, again = identities[c.index]
            results.append(
                {
                    "index": c.index,
                    "status": "accepted",
                    "device": dev,
                    "stream": stream,
                    "seq": seq,
                    "replayed": again,
                }
            )
    body = {
        "accepted": len(results) - n_rejected,
        "rejected": n_rejected,
        "replayed": replayed,
        "results": results,
    }
    return json_answer(400 if n_rejected else 202, body)
