"""Per-device token buckets counted in records (a batch of 100 costs 100)."""

from __future__ import annotations

import math

from components.core.clock import Clock


class RateLimiter:
    """One bucket per device: `rate_per_s` sustained, `burst` at most in reserve.

    A request is let through when the bucket holds at least min(cost, burst) tokens and then
    pays its full cost (the bucket may go below zero), so a batch larger than the burst is
    possible after a pause and is paid back before the next one."""

    def __init__(self, clock: Clock, rate_per_s: float, burst: int) -> None:
        self._clock = clock
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, tuple[float, int]] = {}  # device -> (tokens, at mono_ns)

    def take(self, device: str, cost: int) -> float:
        """0.0 if allowed (and paid), else the seconds to wait before it would be."""
        now = self._clock.monotonic_ns()
        tokens, at = self._buckets.get(device, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / 1e9 * self.rate_per_s)
        need = min(cost, self.burst)
        if tokens >= need:
            self._buckets[device] = (tokens - cost, now)
            return 0.0
        self._buckets[device] = (tokens, now)
        return (need - tokens) / self.rate_per_s

    @staticmethod
    def retry_after_s(wait_s: float) -> int:
        """Retry-After is whole seconds; never 0 (which invites an immediate retry)."""
        return max(1, math.ceil(wait_s))
