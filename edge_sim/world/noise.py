"""Counter-based noise: the value at any index is a pure function of (seed, key, index), so a
signal can be sampled at any time, in any order, in any process, and still agree."""

from __future__ import annotations

import hashlib
import math


def uniform(seed: int, key: str, index: int) -> float:
    """A deterministic value in [0, 1)."""
    digest = hashlib.blake2b(f"{seed}:{key}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def gaussian(seed: int, key: str, index: int) -> float:
    """A deterministic standard-normal value (Box–Muller over two uniforms)."""
    u1 = max(uniform(seed, key, 2 * index), 1e-300)
    u2 = uniform(seed, key, 2 * index + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)
