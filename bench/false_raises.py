"""False raises on pure noise at default settings: what an operator of a quiet stream sees.

    python -m bench.false_raises [--seeds 20] [--days 2]

Each seed is one stream of 1 Hz readings of a 20.0 level with Gaussian noise (sigma 0.5),
run for --days days through the detectors with their defaults (novelty: novelty.json) and,
for comparison, the static ones at limits an installer might set (threshold at mean +- 4
sigma, rate at 6 sigma per second between readings, flatline and silence at their usual
spans). Every raise is false. Prints the raises
per stream per day, the first day (a stream's learning) apart from the later ones. Goal:
at most 1 a day per stream.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from typing import Any

from bench.report import emit
from components.analytics.detectors import (
    Flatline,
    Level,
    Novelty,
    NoveltyParams,
    RateOfChange,
    Signal,
    Silence,
)

T0_MS = 1_767_225_600_000
LEVEL, SIGMA = 20.0, 0.5
READINGS_PER_DAY = 86_400
GOAL_PER_DAY = 1.0


class _Both:
    """Threshold high and low as one detector (as the engine builds it from high/low)."""

    def __init__(self) -> None:
        self.high = Level("high", LEVEL + 4 * SIGMA, True, SIGMA, "warning")
        self.low = Level("low", LEVEL - 4 * SIGMA, False, SIGMA, "warning")

    def observe(self, t_ms: int, value: float) -> Signal | None:
        a, b = self.high.observe(t_ms, value), self.low.observe(t_ms, value)
        return a if a is not None and a.active else b


class _Silence:
    """The silence detector as the engine drives it: seen on a reading, checked each step."""

    def __init__(self) -> None:
        self.det = Silence(120.0)

    def observe(self, t_ms: int, value: float) -> Signal | None:
        self.det.seen(t_ms)
        return self.det.check(t_ms + 1000)


DETECTORS: dict[str, Callable[[], Any]] = {
    "novelty (defaults)": lambda: Novelty(NoveltyParams.load()),
    "threshold +-4 sigma": _Both,
    "rate 6 sigma/s": lambda: RateOfChange(6 * SIGMA),
    "flatline 900 s": lambda: Flatline(900.0),
    "silence 120 s": _Silence,
}


def raises(make: Callable[[], Any], seed: int, days: int) -> list[int]:
    """Reading indices at which the detector raised, on one noise stream."""
    rng = random.Random(seed)
    det = make()
    out = []
    for i in range(days * READINGS_PER_DAY):
        s = det.observe(T0_MS + i * 1000, rng.gauss(LEVEL, SIGMA))
        if s is not None and s.active:
            out.append(i)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--days", type=int, default=2)
    args = ap.parse_args(argv)
    rows = []
    print(f"{args.seeds} streams x {args.days} days of 1 Hz Gaussian noise")
    print(f"{'detector':24s} {'first day':>14s} {'later days':>14s} {'all':>10s}  (per stream-day)")
    for name, make in DETECTORS.items():
        first = later = 0
        for seed in range(args.seeds):
            r = raises(make, seed, args.days)
            first += sum(1 for i in r if i < READINGS_PER_DAY)
            later += sum(1 for i in r if i >= READINGS_PER_DAY)
        per_first = first / args.seeds
        per_later = later / (args.seeds * (args.days - 1)) if args.days > 1 else None
        per_all = (first + later) / (args.seeds * args.days)
        later_txt = f"{per_later:14.3f}" if per_later is not None else f"{'-':>14s}"
        print(f"{name:24s} {per_first:14.3f} {later_txt} {per_all:10.3f}")
        for label, value in (
            ("first day", per_first),
            ("later days", per_later),
            ("all days", per_all),
        ):
            if value is not None:
                rows.append(
                    {
                        "figure": f"{name}: false raises per stream-day, {label}",
                        "value": round(value, 3),
                        "unit": "/day",
                        "goal": f"<= {GOAL_PER_DAY:g}",
                        "peer": GOAL_PER_DAY,
                        "ratio": round(value / GOAL_PER_DAY, 3),
                        "note": f"{args.seeds} seeds x {args.days} days, 1 Hz",
                    }
                )
    emit("false_raises", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
