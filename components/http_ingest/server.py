"""The two routes: POST /v1/records and GET /healthz, on the HTTP layer of `http.py`.

Order of checks on a post (cheapest refusal first): bearer token (401), content type (415),
Idempotency-Key (400), body size (413), arrival (408) and encoding (400/415), JSON shape (400),
devices named (403), rate (429), then each record against its schema, then the durable commit
(202, or 429 if the log is full).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

from components.core.clock import Clock
from components.core.config import Config
from components.core.log import BudgetExceeded, KeyedResult, Log
from components.http_ingest.auth import AuthError, TokenTable
from components.http_ingest.body import BadEncoding, BodyTooLarge, UnsupportedEncoding
from components.http_ingest.commit_process import CommitProcess
from components.http_ingest.http import Answer, Request, error, json_answer
from components.http_ingest.ratelimit import RateLimiter
from components.http_ingest.records import (
    Accepted,
    BodyError,
    Rejected,
    check_record,
    foreign_devices,
    groups_for,
    parse_body,
)
from components.http_ingest.schemas import compile_validators

log = logging.getLogger("floorline.http_ingest")

MAX_IDEMPOTENCY_KEY_CHARS = 200
HEALTH_CACHE_S = 2.0


class LatencyWindow:
    """The last `size` durations, for percentiles a technician can read in /healthz."""

    def __init__(self, size: int = 2048) -> None:
        self._values: deque[int] = deque(maxlen=size)

    def add(self, duration_ns: int) -> None:
        self._values.append(duration_ns)

    def percentiles_ms(self) -> dict[str, float | None]:
        ordered = sorted(self._values)
        if not ordered:
            return {"p50": None, "p99": None, "max": None}
        n = len(ordered)
        return {
            "p50": round(ordered[n // 2] / 1e6, 3),
            "p99": round(ordered[min(n - 1, n * 99 // 100)] / 1e6, 3),
            "max": round(ordered[-1] / 1e6, 3),
        }


class Ingest:
    """The state behind the handlers: configuration in force, writer, counters."""

    def __init__(self, cfg: Config, lg: Log, writer: CommitProcess, clock: Clock) -> None:
        self.log = lg
        self.writer = writer
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self._health: tuple[float, dict[str, Any]] | None = None
        self._last_full_mono_ns: int | None = None
        # Handler start to answer built, for 202s: validation plus the wait for the commit.
        self.accept_latency = LatencyWindow()
        self.apply(cfg)

    def apply(self, cfg: Config) -> None:
        """Take a (validated) configuration; listening address, TLS and log apply at restart."""
        self.cfg = cfg
        self.tokens = TokenTable(cfg.tokenSha256ByDevice)
        self.validators = compile_validators(cfg.recordSchemas)
        self.limiter = RateLimiter(
            self.clock, cfg.maxRecordsPerSecondPerDevice, cfg.burstRecordsPerDevice
        )
        self.writer.configure(
            max_commit_records=cfg.maxCommitRecords,
            key_retention_s=cfg.idempotencyRetentionSeconds,
            max_keys=cfg.maxIdempotencyKeys,
        )

    # ------------------------------------------------------------------ POST /v1/records
    async def post_records(self, request: Request) -> Answer:
        self.counters["requests"] += 1
        started_ns = self.clock.monotonic_ns()
        cfg = self.cfg
        headers = request.headers
        try:
            device = self.tokens.authenticate(headers.get("authorization"))
        except AuthError as exc:
            self.counters["auth_failures"] += 1
            challenge = f'Bearer realm="floorline", error="{exc.code}"'
            return error(401, exc.code, str(exc), ("WWW-Authenticate", challenge))
        media, charset = request.media_type()
        if not (media == "application/json" or media.endswith("+json")) or (
            charset is not None and charset.lower() not in ("utf-8", "utf8")
        ):
            self.counters["bad_content_type"] += 1
            return error(415, "unsupported_media_type", "send application/json in UTF-8")
        request_key = headers.get("idempotency-key")
        if request_key is not None and not (
            0 < len(request_key) <= MAX_IDEMPOTENCY_KEY_CHARS
            and request_key.isascii()
            and request_key.isprintable()
        ):
            self.counters["bad_body"] += 1
            return error(400, "bad_idempotency_key", "Idempotency-Key: 1..200 printable ASCII")
        try:  # a client that sent `Expect: 100-continue` is asked for its body only now
            raw = await request.body(cfg.maxBodyBytes, cfg.bodyTimeoutSeconds)
        except BodyTooLarge:
            self.counters["body_too_large"] += 1
            return error(413, "body_too_large", f"body over {cfg.maxBodyBytes} bytes")
        except ConnectionResetError:  # the client left before its body arrived: nobody to tell
            self.counters["clients_gone"] += 1
            return error(400, "client_gone", "the connection closed before the body arrived")
        except TimeoutError:  # a stalled or trickling client must not hold a handler forever
            self.counters["body_timeouts"] += 1
            return error(408, "body_timeout", f"body not received in {cfg.bodyTimeoutSeconds} s")
        except UnsupportedEncoding as exc:
            self.counters["bad_content_type"] += 1
            return error(415, "unsupported_encoding", str(exc))
        except BadEncoding as exc:
            self.counters["bad_body"] += 1  # e.g. "gzip" that is not gzip
            return error(400, "bad_encoding", f"the body could not be decoded: {exc}")
        try:
            candidates = parse_body(raw, cfg.maxRecordsPerRequest)
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
        validators, unknown_ok = self.validators, cfg.acceptUnknownTypes
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
            return self._answer(checked, {}, replayed=False)
        # The body's digest tells a retry from a reused key; without a key it is not needed.
        digest = hashlib.sha256(raw).hexdigest() if request_key is not None else ""
        groups = groups_for(accepted, device, request_key, digest)
        try:
            results = await self.writer.submit([g for g, _ in groups])
        except BudgetExceeded:
            self.counters["log_full"] += 1
            self._last_full_mono_ns = self.clock.monotonic_ns()
            return error(
                429,
                "log_full",
                "the log has no room for events now; retry later",
                ("Retry-After", str(cfg.logFullRetryAfterSeconds)),
            )
        except Exception as exc:  # a log fault (I/O error): honest 503, counted and logged
            self.counters["commit_failures"] += 1
            log.error("event=commit_failed error=%r", exc)
            return error(
                503, "log_unavailable", "the log could not commit; retry", ("Retry-After", "5")
            )
        answer = self._settle(checked, groups, results, request_key is not None)
        self.accept_latency.add(self.clock.monotonic_ns() - started_ns)
        return answer

    def _settle(
        self,
        checked: list[Accepted | Rejected],
        groups: Sequence[tuple[Any, list[Accepted]]],
        results: Sequence[KeyedResult],
        by_request_key: bool,
    ) -> Answer:
        identities: dict[int, tuple[str, str, int, bool]] = {}
        conflicts: dict[int, str] = {}
        for (group, members), res in zip(groups, results, strict=True):
            if res.replayed and res.fingerprint != group.fingerprint:
                if by_request_key:
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
        return self._answer(checked, identities, replayed)

    def _answer(
        self,
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

    # ------------------------------------------------------------------ GET /healthz
    async def healthz(self, request: Request) -> Answer:
        """For a technician: is the log writable, how big is the backlog, is the clock synced.
        No authentication, so nothing secret: no tokens, no payloads, no paths. Reads the
        log's quick stats (O(log n), its own connection): polling never holds up ingest."""
        now = time.monotonic()
        if self._health is None or now - self._health[0] > HEALTH_CACHE_S:
            loop = asyncio.get_running_loop()
            try:
                st = await loop.run_in_executor(None, self.log.quick_stats)
                error = None
            except Exception as exc:  # the answer is "log not ok", with the reason
                st, error = {}, f"{type(exc).__name__}: {exc}"
            self._health = (now, self._summarise(st, error))
        body = dict(self._health[1])
        body["ingest"] = {
            **{k: v for k, v in sorted(self.counters.items())},
            "queue_depth": self.writer.queue_depth(),
            "commits": self.writer.stats.commits,
            "largest_commit_requests": self.writer.stats.largest_commit_requests,
            "accept_latency_ms": self.accept_latency.percentiles_ms(),
        }
        return json_answer(200 if body["status"] == "ok" else 503, body)

    def _summarise(self, st: dict[str, Any], error: str | None) -> dict[str, Any]:
        if error is not None:
            return {"status": "degraded", "log": {"ok": False, "error": error}}
        recently_full = (
            self._last_full_mono_ns is not None
            and self.clock.monotonic_ns() - self._last_full_mono_ns < 60 * 10**9
        )
        ok = st["used_bytes"] < st["budget_bytes"] and not recently_full
        backlog = {name: sum(per_cls.values()) for name, per_cls in st["backlog"].items()}
        return {
            "status": "ok" if ok else "degraded",
            "log": {
                "ok": ok,
                "used_bytes": st["used_bytes"],
                "budget_bytes": st["budget_bytes"],
                "free_disk_bytes": st["free_disk_bytes"],
                "event_records": st["records"]["event"],
                "refused_full_recently": recently_full,
            },
            "backlog_records": backlog,
            "clock_synced": st["clock_synced"],
        }


    # ------------------------------------------------------------------ dispatch
    async def handle(self, request: Request) -> Answer:
        """The two routes, matched directly (CPU per request counts)."""
        expect = request.headers.get("expect")
        if (
            expect is not None
            and request.http_version == "1.1"
            and expect.strip().lower() != "100-continue"
        ):
            return error(417, "expectation_failed", "the only Expect understood: 100-continue")
        path = request.path
        if path == "/v1/records":
            if request.method == "POST":
                return await self.post_records(request)
            return error(405, "method_not_allowed", "use POST", ("Allow", "POST"))
        if path == "/healthz":
            if request.method in ("GET", "HEAD"):
                return await self.healthz(request)
            return error(405, "method_not_allowed", "use GET", ("Allow", "GET, HEAD"))
        return error(404, "not_found", "routes: POST /v1/records, GET /healthz")
