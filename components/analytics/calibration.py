"""How rare a score is for *this* stream: an empirical tail probability of its own scores.

A novelty score means "this is unusual for the model", but how often a stream reaches a given
score depends on the stream: on a noisy one, new extremes and odd runs keep coming, ever more
rarely but without end. `ScoreTail` keeps a decaying histogram of every score the stream gave
and answers the fraction of its readings that scored at least as high as a new one. The alert
asks both: a score at the threshold *and* rare for this stream (at most `tail_p` of its
readings, about one a day at 1 Hz for 1e-5), so one setting serves every stream.

Bounded: `bins` floats per stream, O(bins) per reading at most (the tail sum is only taken for
scores at or above the alert threshold).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ScoreTail:
    """A decaying histogram of scores in [floor, 1]; scores under `floor` only count readings.

    `decay` per reading (half-life ln 2 / decay readings) lets a stream that changed its
    character be relearned: a week at 1 Hz for 1.15e-6. Decay is applied lazily: reading k
    weighs (1 - decay)^-k, and everything is rescaled when that weight grows large, so a
    reading costs O(1).
    """

    __slots__ = ("floor", "bins", "grow", "weight", "counts", "total")

    def __init__(self, floor: float, bins: int, decay: float) -> None:
        if not 0.0 <= floor < 1.0 or bins < 1 or not 0.0 <= decay < 1.0:
            raise ValueError("ScoreTail: floor in [0, 1), bins >= 1, decay in [0, 1)")
        self.floor, self.bins, self.grow = floor, bins, 1.0 / (1.0 - decay)
        self.weight = 1.0  # the weight of the next reading
        self.counts = [0.0] * bins
        self.total = 0.0

    def _bin(self, score: float) -> int:
        return min(self.bins - 1, int((score - self.floor) / (1.0 - self.floor) * self.bins))

    def tail(self, score: float) -> float:
        """Fraction of the readings so far (decayed) that scored in `score`'s bin or above;
        0 for a stream that never did (or saw nothing yet)."""
        if self.total <= 0.0:
            return 0.0
        if score < self.floor:
            return 1.0
        return sum(self.counts[self._bin(score) :]) / self.total

    def add(self, score: float) -> None:
        w = self.weight
        self.total += w
        if score >= self.floor:
            self.counts[self._bin(score)] += w
        w *= self.grow
        if w > _RESCALE_AT:
            self.counts = [c / w for c in self.counts]
            self.total /= w
            w = 1.0
        self.weight = w

    def state(self) -> dict[str, Any]:
        return {"weight": self.weight, "counts": self.counts, "total": self.total}

    def restore(self, s: Mapping[str, Any]) -> None:
        self.weight = float(s["weight"])
        self.counts = [float(c) for c in s["counts"]]
        self.total = float(s["total"])


_RESCALE_AT = 1e100
