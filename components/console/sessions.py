"""Signed-in browsers of the status page. A browser signs in once with the token (a form,
never the URL: URLs end up in history, bookmarks and proxy logs) and then carries a random
session id in a cookie. A session is bound to the token hash it was made under, so rotating
the token signs everyone out; it expires after `ttl_s`; at most `max_sessions` are kept
(signing in past that forgets the oldest)."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

COOKIE = "floorline_session"
DEFAULT_TTL_S = 12 * 3600.0  # a working shift
DEFAULT_MAX = 64


class Sessions:
    def __init__(
        self,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        max_sessions: int = DEFAULT_MAX,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._now = monotonic
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()  # id: (hash, expiry)

    def create(self, token_sha256: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = (token_sha256, self._now() + self.ttl_s)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return sid

    def valid(self, sid: str | None, token_sha256: str) -> bool:
        if not sid or not token_sha256:
            return False
        with self._lock:
            entry = self._sessions.get(sid)
            if entry is None:
                return False
            made_under, expiry = entry
            if self._now() >= expiry or not hmac.compare_digest(made_under, token_sha256):
                del self._sessions[sid]
                return False
            return True

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def __len__(self) -> int:
        return len(self._sessions)
