"""Tumbling windows per stream: pure aggregation keyed by the records' own timestamps.

A window covers [start_ms, start_ms + length) aligned to multiples of its length, so every
device's 60 s windows line up in the cloud. It closes when a reading at or past its end
arrives, or when the caller reports that time has passed (`close_due(now_ms)`).

Percentiles are exact while a window holds up to `exact_limit` values (default 4096: a 60 s
window of a 10 Hz stream is 600). Beyond that the kept values are decimated deterministically
(every other one dropped, stride doubled): memory stays bounded, each kept value stands for
`stride` readings, and the p50/p95 rank error is at most one stride. The aggregate says
`percentiles_exact: false` when that happened. count/min/max/mean/std/last stay exact always.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

DEFAULT_EXACT_LIMIT: Final = 4096
AXES: Final = ("x", "y", "z")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (the 'inclusive' definition)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def window_start(t_ms: int, length_ms: int) -> int:
    return t_ms - t_ms % length_ms


@dataclass
class Summary:
    """Running statistics of one field in one window (Welford for mean and variance)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    last: float = 0.0
    kept: list[float] = field(default_factory=list)
    stride: int = 1
    skip: int = 0  # readings to pass before keeping the next one

    def add(self, v: float, exact_limit: int) -> None:
        self.count += 1
        d = v - self.mean
        self.mean += d / self.count
        self.m2 += d * (v - self.mean)
        if v < self.min:
            self.min = v
        if v > self.max:
            self.max = v
        self.last = v
        if self.skip:
            self.skip -= 1
            return
        self.kept.append(v)
        self.skip = self.stride - 1
        if len(self.kept) >= exact_limit:
            self.kept = self.kept[::2]
            self.stride *= 2
            self.skip = self.stride - 1

    def result(self) -> dict[str, Any]:
        ordered = sorted(self.kept)
        std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        return {
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": std,
            "last": self.last,
            "p50": percentile(ordered, 0.5),
            "p95": percentile(ordered, 0.95),
            "percentiles_exact": self.stride == 1,
        }

    def state(self) -> list[Any]:
        return [
            self.count,
            self.mean,
            self.m2,
            self.min,
            self.max,
            self.last,
            self.kept,
            self.stride,
            self.skip,
        ]

    @classmethod
    def from_state(cls, s: Sequence[Any]) -> Summary:
        return cls(
            int(s[0]),
            float(s[1]),
            float(s[2]),
            float(s[3]),
            float(s[4]),
            float(s[5]),
            [float(v) for v in s[6]],
            int(s[7]),
            int(s[8]),
        )


class _Tumbling:
    """What every tumbling window shares: it closes once its length has passed."""

    start_ms: int | None
    length_ms: int

    def close(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def close_due(self, now_ms: int) -> dict[str, Any] | None:
        if self.start_ms is not None and now_ms >= self.start_ms + self.length_ms:
            return self.close()
        return None


class TumblingWindow(_Tumbling):
    """One stream's scalar windows: one Summary per numeric field."""

    def __init__(self, length_s: float, exact_limit: int = DEFAULT_EXACT_LIMIT) -> None:
        if length_s <= 0:
            raise ValueError(f"window length {length_s} s must be > 0")
        self.length_ms = int(length_s * 1000)
        self.exact_limit = exact_limit
        self.start_ms: int | None = None
        self.fields: dict[str, Summary] = {}
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.late = 0  # readings stamped before the open window (clock step back)

    def add(
        self, t_ms: int, values: Mapping[str, float], seq: int | None = None
    ) -> dict[str, Any] | None:
        """Fold one reading in; returns the closed previous window when this reading opens a
        new one. A reading stamped before the open window is counted as `late` and folded
        into the open one (never dropped)."""
        closed = None
        start = window_start(t_ms, self.length_ms)
        if self.start_ms is not None and start > self.start_ms:
            closed = self.close()
        if self.start_ms is None:
            self.start_ms = start
        elif start < self.start_ms:
            self.late += 1
        for name, v in values.items():
            s = self.fields.get(name)
            if s is None:
                s = self.fields[name] = Summary()
            s.add(v, self.exact_limit)
        if seq is not None:
            if self.first_seq is None:
                self.first_seq = seq
            self.last_seq = seq
        return closed

    def close(self) -> dict[str, Any] | None:
        if self.start_ms is None:
            return None
        out = {
            "window_start_ms": self.start_ms,
            "window_end_ms": self.start_ms + self.length_ms,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "late": self.late,
            "fields": {name: s.result() for name, s in self.fields.items()},
        }
        self.start_ms, self.fields, self.late = None, {}, 0
        self.first_seq = self.last_seq = None
        return out

    def peek(self) -> dict[str, Any] | None:
        """The open window so far (alert evidence), without closing it."""
        if self.start_ms is None:
            return None
        return {
            "window_start_ms": self.start_ms,
            "window_end_ms": self.start_ms + self.length_ms,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "fields": {name: s.result() for name, s in self.fields.items() if s.count},
        }

    def state(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "late": self.late,
            "fields": {k: s.state() for k, s in self.fields.items()},
        }

    def restore(self, s: Mapping[str, Any]) -> None:
        self.start_ms, self.first_seq, self.last_seq = s["start_ms"], s["first_seq"], s["last_seq"]
        self.late = int(s["late"])
        self.fields = {k: Summary.from_state(v) for k, v in s["fields"].items()}


# --------------------------------------------------------------------------- vibration
def fft(values: Sequence[complex]) -> list[complex]:
    """Iterative radix-2 FFT; len(values) must be a power of two."""
    n = len(values)
    if n & (n - 1):
        raise ValueError(f"FFT length {n} is not a power of two")
    a = list(values)
    j = 0
    for i in range(1, n):  # bit-reversal permutation
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    size = 2
    while size <= n:
        w_step = cmath.exp(-2j * math.pi / size)
        half = size // 2
        for start in range(0, n, size):
            w = 1 + 0j
            for k in range(start, start + half):
                t = w * a[k + half]
                a[k + half] = a[k] - t
                a[k] += t
                w *= w_step
        size *= 2
    return a


def dominant_frequency_hz(samples: Sequence[float], sample_rate_hz: float) -> float:
    """Frequency of the largest non-DC FFT bin of the mean-removed signal (zero-padded to a
    power of two, refined between bins by a parabola through the peak and its neighbours);
    0.0 for fewer than 4 samples or a constant signal."""
    n = len(samples)
    if n < 4:
        return 0.0
    mean = sum(samples) / n
    size = 1 << (n - 1).bit_length()
    spectrum = fft([complex(v - mean) for v in samples] + [0j] * (size - n))
    mags = [abs(spectrum[k]) for k in range(size // 2 + 1)]
    best_k = max(range(1, size // 2 + 1), key=mags.__getitem__)
    if mags[best_k] <= 1e-12:
        return 0.0
    shift = 0.0
    if best_k < size // 2:  # parabolic interpolation between bins: sub-bin accuracy
        a, b, c = mags[best_k - 1], mags[best_k], mags[best_k + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom else 0.0
    return (best_k + shift) * sample_rate_hz / size


def vibration_axis(samples: Sequence[float], sample_rate_hz: float) -> dict[str, float]:
    """RMS, peak and crest factor of the vibration (the mean, i.e. gravity and offset, removed)
    and its dominant frequency. Units follow the input (g)."""
    n = len(samples)
    mean = sum(samples) / n
    ac = [v - mean for v in samples]
    rms = math.sqrt(sum(v * v for v in ac) / n)
    peak = max(abs(v) for v in ac)
    return {
        "mean_g": mean,
        "rms_g": rms,
        "peak_g": peak,
        "crest_factor": peak / rms if rms > 0 else 0.0,
        "dominant_hz": dominant_frequency_hz(samples, sample_rate_hz),
    }


class VibrationWindow(_Tumbling):
    """ADXL345 three-axis windows. Readings carry `accel_<axis>_g` (one sample) or
    `samples` ([[x, y, z], ...], a FIFO burst). The FFT needs uniform sampling: the rate comes
    from configuration, else from the window's own sample count and span."""

    def __init__(
        self, length_s: float, sample_rate_hz: float | None = None, max_samples: int = 8192
    ) -> None:
        if length_s <= 0:
            raise ValueError(f"window length {length_s} s must be > 0")
        self.length_ms = int(length_s * 1000)
        self.rate_hz = sample_rate_hz
        self.max_samples = max_samples
        self.start_ms: int | None = None
        self.axes: dict[str, list[float]] = {a: [] for a in AXES}
        self.dropped = 0  # samples beyond max_samples (counted, reported in the aggregate)
        self.first_t: int | None = None
        self.last_t: int | None = None

    def add(self, t_ms: int, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        closed = None
        start = window_start(t_ms, self.length_ms)
        if self.start_ms is not None and start > self.start_ms:
            closed = self.close()
        if self.start_ms is None:
            self.start_ms = start
            self.first_t = t_ms
        self.last_t = t_ms
        burst = payload.get("samples")
        rows = burst if burst is not None else [[payload[f"accel_{a}_g"] for a in AXES]]
        for row in rows:
            if len(self.axes["x"]) >= self.max_samples:
                self.dropped += 1
                continue
            for axis, v in zip(AXES, row, strict=True):
                self.axes[axis].append(float(v))
        return closed

    def close(self) -> dict[str, Any] | None:
        if self.start_ms is None:
            return None
        n = len(self.axes["x"])
        rate = self.rate_hz
        if rate is None and n > 1 and self.last_t is not None and self.first_t is not None:
            span_s = (self.last_t - self.first_t) / 1000.0
            rate = (n - 1) / span_s if span_s > 0 else None
        out: dict[str, Any] = {
            "window_start_ms": self.start_ms,
            "window_end_ms": self.start_ms + self.length_ms,
            "samples": n,
            "sample_rate_hz": rate,
            "dropped": self.dropped,
        }
        if n:
            out["axes"] = {a: vibration_axis(self.axes[a], rate or 0.0) for a in AXES}
        self.start_ms, self.dropped, self.first_t, self.last_t = None, 0, None, None
        self.axes = {a: [] for a in AXES}
        return out

    def state(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "axes": self.axes,
            "dropped": self.dropped,
            "first_t": self.first_t,
            "last_t": self.last_t,
        }

    def restore(self, s: Mapping[str, Any]) -> None:
        self.start_ms, self.dropped = s["start_ms"], int(s["dropped"])
        self.first_t, self.last_t = s["first_t"], s["last_t"]
        self.axes = {a: [float(v) for v in s["axes"][a]] for a in AXES}
