"""A token bucket driven by the caller's clock (no sleeping, no time reads inside).

The nucleus twin's own, written apart from the uplink's (components/uplink/flow.py) on
purpose: the twin enforces the limits the uplink must respect, so sharing the uplink's code
would make the twin agree with it by construction instead of checking it."""

from __future__ import annotations


class TokenBucket:
    """`rate_per_s` tokens per second, at most `capacity` banked.

    A request larger than the capacity is allowed once the bucket is full and leaves it in
    debt, so one big message is never refused forever; the long-run rate still holds.
    """

    def __init__(self, rate_per_s: float, capacity: float, now_ns: int) -> None:
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError(f"rate {rate_per_s} and capacity {capacity} must be > 0")
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self._tokens = float(capacity)
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        elapsed_s = max(0, now_ns - self._last_ns) / 1e9
        self._tokens = min(self.capacity, self._tokens + elapsed_s * self.rate_per_s)
        self._last_ns = max(self._last_ns, now_ns)

    def tokens(self, now_ns: int) -> float:
        self._refill(now_ns)
        return self._tokens

    def wait_s(self, amount: float, now_ns: int) -> float:
        """Seconds until `amount` may be taken (0 if now)."""
        self._refill(now_ns)
        need = min(amount, self.capacity)
        return 0.0 if self._tokens >= need else (need - self._tokens) / self.rate_per_s

    def try_take(self, amount: float, now_ns: int) -> bool:
        if self.wait_s(amount, now_ns) > 0:
            return False
        self._tokens -= amount
        return True

    def take(self, amount: float, now_ns: int) -> bool:
        """Take unconditionally (the bucket may go into debt); True if it was within limits."""
        within = self.wait_s(amount, now_ns) == 0
        self._tokens -= amount
        return within
