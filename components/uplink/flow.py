"""Flow control: token buckets under the per-device IoT Core limits, and jittered backoff.

Pure: time comes in as arguments, randomness from a seeded generator. The caller sleeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`."""

    def __init__(self, rate: float, burst: float, now_s: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now_s

    def _refill(self, now_s: float) -> None:
        if now_s > self._at:
            self._tokens = min(self.burst, self._tokens + (now_s - self._at) * self.rate)
            self._at = now_s

    def wait_s(self, amount: float, now_s: float) -> float:
        """Seconds until `amount` tokens are available (0 if now). Takes nothing."""
        self._refill(now_s)
        amount = min(amount, self.burst)  # a request larger than the burst waits for a full one
        return 0.0 if self._tokens >= amount else (amount - self._tokens) / self.rate

    def take(self, amount: float, now_s: float) -> None:
        self._refill(now_s)
        self._tokens -= min(amount, self.burst)

    def set_rate(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = min(self._tokens, burst)


class Pacer:
    """Messages per second and bytes per second, both honoured."""

    def __init__(self, messages_per_s: float, bytes_per_s: float, now_s: float) -> None:
        # Bursts of one second's worth: the limits are per second, so a full second's burst
        # after an idle second stays within them.
        self.messages = TokenBucket(messages_per_s, messages_per_s, now_s)
        self.bytes = TokenBucket(bytes_per_s, bytes_per_s, now_s)

    def wait_s(self, size: int, now_s: float) -> float:
        return max(self.messages.wait_s(1, now_s), self.bytes.wait_s(size, now_s))

    def take(self, size: int, now_s: float) -> None:
        self.messages.take(1, now_s)
        self.bytes.take(size, now_s)


@dataclass
class Backoff:
    """Exponential backoff with full jitter, so a fleet does not reconnect in lockstep."""

    base_s: float = 0.5
    cap_s: float = 60.0
    rng: random.Random | None = None
    attempt: int = 0

    def next_s(self) -> float:
        rng = self.rng or random.Random()
        ceiling = min(self.cap_s, self.base_s * (2**self.attempt))
        self.attempt += 1
        return rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
