"""Counter-based noise: the value at any index is a pure function of (seed, key, index), so a
signal can be sampled at any time, in any order, in any process, and still agree."""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Any


@functools.lru_cache(maxsize=1024)
def _prefix(seed: int, key: str) -> Any:
    # The hash state after "seed:key:", copied per draw: a simulated accelerometer draws
    # thousands of values a second from the same few keys.
    return hashlib.blake2b(f"{seed}:{key}:".encode(), digest_size=8)


def _draw(seed: int, key: str, index: int) -> int:
    """64 deterministic bits: blake2b-64 of "seed:key:index"."""
    h = _prefix(seed, key).copy()
    h.update(str(index).encode())
    return int.from_bytes(h.digest(), "big")


def uniform(seed: int, key: str, index: int) -> float:
    """A deterministic value in [0, 1)."""
    return _draw(seed, key, index) / 2**64


def gaussian(seed: int, key: str, index: int) -> float:
    """A deterministic standard-normal value: Box–Muller over the two 32-bit halves of one
    draw (one hash per value; the tails reach 6.6 sigma, plenty for sensor noise)."""
    bits = _draw(seed, key, index)
    u1 = ((bits >> 32) + 1) / 2**32  # (0, 1]: log() needs it above zero
    u2 = (bits & 0xFFFFFFFF) / 2**32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)
