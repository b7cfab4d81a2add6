"""The two routes: POST /v1/records and GET /healthz, on the HTTP layer of `http.py`.

Order of checks on a post (cheapest refusal first), here: bearer token (401), content type
(415), Idempotency-Key (400), body size (413), arrival (408) and encoding (400/415); then, in
the commit process (`intake.py`): JSON shape (400), devices named (403), rate (429), each
record against its schema, the durable commit (202, or 429 if the log is full).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import Any

from components.core.clock import Clock
from components.core.log import Log
from components.http_ingest.answers import Answer, error, json_answer, log_unavailable
from components.http_ingest.auth import AuthError, TokenTable
from components.http_ingest.body import BadEncoding, BodyTooLarge, UnsupportedEncoding
from components.http_ingest.commit_process import CommitFailed, CommitProcess
from components.http_ingest.config import HttpIngestSettings
from components.http_ingest.http import Request

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

    def __init__(
        self, cfg: HttpIngestSettings, lg: Log, writer: CommitProcess, clock: Clock
    ) -> None:
        self.log = lg
        self.writer = writer
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self._health: tuple[float, dict[str, Any]] | None = None
        # Handler start to answer built, for 202s: validation plus the wait for the commit.
        self.accept_latency = LatencyWindow()
        self.apply(cfg)

    def apply(self, cfg: HttpIngestSettings) -> None:
        """Take a (validated) configuration; listening address, TLS and log apply at restart."""
        self.cfg = cfg
        self.tokens = TokenTable(cfg.tokenSha256ByDevice)
        self.writer.configure(cfg)  # schemas, rates and commit settings: the intake's

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
            answer = await self.writer.submit(device, request_key, raw)
        except CommitFailed as exc:  # the commit process is gone: honest 503, then we exit
            self.counters["commit_failures"] += 1
            log.error("event=commit_failed error=%s", exc)
            return log_unavailable()
        if answer.status == 202:
            self.accept_latency.add(self.clock.monotonic_ns() - started_ns)
        return answer

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
        counters = self.counters + Counter(self.writer.counters)
        body["ingest"] = {
            **{k: v for k, v in sorted(counters.items())},
            "queue_depth": self.writer.queue_depth(),
            "commits": self.writer.stats.commits,
            "largest_commit_requests": self.writer.stats.largest_commit_requests,
            "accept_latency_ms": self.accept_latency.percentiles_ms(),
        }
        return json_answer(200 if body["status"] == "ok" else 503, body)

    def _summarise(self, st: dict[str, Any], error: str | None) -> dict[str, Any]:
        if error is not None:
            return {"status": "degraded", "log": {"ok": False, "error": error}}
        full_age_s = self.writer.log_full_age_s()
        recently_full = full_age_s is not None and full_age_s < 60
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
