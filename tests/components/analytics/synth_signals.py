"""A small deterministic signal generator for detector tests: one reading per second."""

from __future__ import annotations

import math

T0_MS = 1_767_225_600_000


def base(i: int) -> float:
    """20.0 with a small deterministic ripple (never random: tests must be exact)."""
    return 20.0 + 0.2 * math.sin(i / 7.0) + 0.1 * math.sin(i / 3.1)


def spike(n: int, at: int, width: int, height: float) -> list[tuple[int, float]]:
    return [(T0_MS + i * 1000, base(i) + (height if at <= i < at + width else 0.0))
            for i in range(n)]


def drift(n: int, start: int, per_s: float) -> list[tuple[int, float]]:
    return [(T0_MS + i * 1000, base(i) + max(0, i - start) * per_s) for i in range(n)]


def stuck(n: int, start: int, end: int) -> list[tuple[int, float]]:
    return [(T0_MS + i * 1000, base(start) if start <= i < end else base(i)) for i in range(n)]


def dropout(n: int, start: int, end: int) -> list[tuple[int, float]]:
    return [(T0_MS + i * 1000, base(i)) for i in range(n) if not start <= i < end]
