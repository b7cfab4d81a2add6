"""NAB scoring rules (Numenta Anomaly Benchmark), as published, in pure functions.

A detection is a row whose anomaly score is >= the threshold. Rows in the probationary period
(the first 15 % of a file, capped at 750 rows) are not scored. Inside a labelled window only the
first detection counts, as a true positive worth tp_weight * sigma(y) / sigma(-1) with y the
relative position in the window (-1 left edge ... 0 right edge); a window with no detection costs
-fn_weight; a detection outside windows costs fp_weight * sigma(y) with y its distance past the end
of the preceding window in window widths (-1 if none precedes it or it is more than 3 widths away).

One threshold per profile is chosen by sweeping every distinct score over the whole corpus, and
the corpus score is normalised as 100 * (S - S_null) / (S_perfect - S_null).

No files, no clocks: the benchmark runner feeds these functions parsed rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

PROBATION_FRACTION: Final = 0.15
PROBATION_ROW_CAP_BASE: Final = 5000  # NAB caps probation at fraction * 5000 rows (750)
START_SCORE: Final = 1.1  # a threshold above any score: nothing detected


@dataclass(frozen=True)
class Profile:
    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: Final = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


class WindowError(ValueError):
    """A label window whose edges are not timestamps of the data file."""


@dataclass(frozen=True, slots=True)
class Point:
    """One scorable row: its anomaly score, where it sits, and its unweighted NAB value.

    `window` is a corpus-unique window name, or None outside windows. `value` is sigma(y): for a
    row in a window, its credit as first detection (before tp weighting and scaling); outside, its
    (negative) false-positive value before fp weighting.
    """

    anomaly_score: float
    window: str | None
    value: float


@dataclass(frozen=True)
class ThresholdScore:
    threshold: float
    score: float
    tp: int
    fp: int


def probation_rows(n_rows: int, fraction: float = PROBATION_FRACTION) -> float:
    return min(math.floor(fraction * n_rows), fraction * PROBATION_ROW_CAP_BASE)


def scaled_sigmoid(position: float) -> float:
    """NAB's window sigmoid: 2 / (1 + e^(5y)) - 1, and -1 beyond 3 widths."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP: Final = scaled_sigmoid(-1.0)


def file_points(
    name: str,
    timestamps: Sequence[datetime],
    scores: Sequence[float],
    windows: Sequence[tuple[datetime, datetime]],
) -> list[Point]:
    """The scorable points of one file (probationary rows removed)."""
    if len(timestamps) != len(scores):
        raise ValueError(f"{name}: {len(timestamps)} timestamps but {len(scores)} scores")
    index = {t: i for i, t in enumerate(timestamps)}
    spans: list[tuple[int, int, str]] = []
    for start, end in windows:
        if start not in index or end not in index:
            raise WindowError(f"{name}: window {start}..{end} edge is not a row timestamp")
        spans.append((index[start], index[end], f"{name}|{start.isoformat()}"))
    spans.sort()
    probation = probation_rows(len(timestamps))
    points: list[Point] = []
    k = 0  # next window
    current: tuple[int, int, str] | None = None
    prev_right: int | None = None
    prev_width = 0.0
    for i, score in enumerate(scores):
        if current is None and k < len(spans) and spans[k][0] == i:
            current = spans[k]
            k += 1
        if current is not None:
            left, right, wname = current
            width = float(right - left + 1)
            value = scaled_sigmoid(-(right - i + 1) / width)
            window: str | None = wname
        else:
            window = None
            if prev_right is None:
                value = -1.0
            else:
                value = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1.0))
        if i >= probation:
            points.append(Point(float(score), window, value))
        if current is not None and i == current[1]:
            prev_right = current[1]
            prev_width = float(current[1] - current[0] + 1)
            current = None
    return points


def sweep(points: Sequence[Point], profile: Profile) -> list[ThresholdScore]:
    """Score at every distinct threshold, from above the highest score down to the lowest.

    Entry (t, s) means: detecting every point with anomaly_score >= t scores s.
    """
    ordered = sorted(points, key=lambda p: p.anomaly_score, reverse=True)
    window_part: dict[str, float] = {}
    for p in ordered:
        if p.window is not None:
            window_part[p.window] = -profile.fn_weight
    fp_part = 0.0
    windows_sum = sum(window_part.values())
    tp = fp = 0
    threshold = START_SCORE
    out: list[ThresholdScore] = []
    for p in ordered:
        if p.anomaly_score != threshold:
            out.append(ThresholdScore(threshold, fp_part + windows_sum, tp, fp))
            threshold = p.anomaly_score
        if p.window is None:
            fp += 1
            fp_part += p.value * profile.fp_weight
        else:
            tp += 1
            credit = p.value * profile.tp_weight / MAX_TP
            old = window_part[p.window]
            if credit > old:
                window_part[p.window] = credit
                windows_sum += credit - old
    out.append(ThresholdScore(threshold, fp_part + windows_sum, tp, fp))
    return out


def best_threshold(points: Sequence[Point], profile: Profile) -> ThresholdScore:
    """The threshold that maximises the corpus score (the first one found on ties, as NAB)."""
    return max(sweep(points, profile), key=lambda s: s.score)


def score_at(points: Sequence[Point], profile: Profile, threshold: float) -> float:
    """Raw corpus score with a fixed threshold (for files the threshold was not chosen on)."""
    window_part: dict[str, float] = {}
    fp_part = 0.0
    for p in points:
        if p.window is None:
            if p.anomaly_score >= threshold:
                fp_part += p.value * profile.fp_weight
            continue
        best = window_part.get(p.window, -profile.fn_weight)
        if p.anomaly_score >= threshold:
            best = max(best, p.value * profile.tp_weight / MAX_TP)
        window_part[p.window] = best
    return fp_part + sum(window_part.values())


def null_score(points: Sequence[Point], profile: Profile) -> float:
    """The detector that never fires: every scorable window is missed."""
    return -profile.fn_weight * len({p.window for p in points if p.window is not None})


def normalised(raw: float, null: float, n_windows: int, profile: Profile) -> float:
    """100 * (S - S_null) / (S_perfect - S_null); perfect counts every labelled window."""
    perfect = n_windows * profile.tp_weight
    return 100.0 * (raw - null) / (perfect - null)
