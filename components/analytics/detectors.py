"""Anomaly detectors: pure, per stream, driven only by the timestamps in the records.

Every detector reports *edges*: `observe(...)` returns a `Change` when a condition becomes
active or inactive and None otherwise, so a reading costs a few comparisons. `AlertBook`
(alerts.py) turns edges into alert records. Detectors that notice an *absence* (silence,
dwell too long) take `now_ms` from the caller in `check(now_ms)`; they never read a clock.

Each detector's whole state is a small dict (`state()` / `restore()`) so the component can
checkpoint it together with its log offset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

from components.analytics.calibration import ScoreTail

SEVERITIES: Final = ("info", "warning", "critical")
NOVELTY_CONFIG_PATH: Final = Path(__file__).with_name("novelty.json")


class DetectorConfigError(ValueError):
    """A detector configuration that cannot work; names the detector and the reason."""


@dataclass(frozen=True, slots=True)
class Change:
    """A condition changed: `active` True raises it, False clears it."""

    condition: str
    active: bool
    severity: str
    t_ms: int
    value: float | None
    reason: str


# The checks of a detector's settings: its constructor makes them, and so does the parsing of
# the configuration (streams.py), so a configuration that parses builds.


def check_severity(value: Any) -> str:
    if value not in SEVERITIES:
        raise DetectorConfigError(f"severity {value!r} is not one of {SEVERITIES}")
    return str(value)


def check_hysteresis(condition: str, hysteresis: float) -> None:
    if hysteresis < 0:
        raise DetectorConfigError(f"{condition}: hysteresis {hysteresis} must be >= 0")


def check_rate(max_per_s: float, hysteresis_fraction: float) -> None:
    if max_per_s <= 0 or not 0 <= hysteresis_fraction < 1:
        raise DetectorConfigError("rate: maxPerSecond must be > 0, hysteresis in [0, 1)")


def check_flatline(seconds: float, epsilon: float) -> None:
    if seconds <= 0 or epsilon < 0:
        raise DetectorConfigError("flatline: seconds must be > 0 and epsilon >= 0")


def check_silence(seconds: float) -> None:
    if seconds <= 0:
        raise DetectorConfigError("silence: seconds must be > 0")


def check_dwell(max_dwell_s: float | None) -> None:
    if max_dwell_s is not None and max_dwell_s <= 0:
        raise DetectorConfigError("rfid: maxDwellSeconds must be > 0")


class Threshold:
    """A static threshold with hysteresis: raise when the value crosses `limit`, clear only
    once it is back by `hysteresis` (so a noisy value near the limit does not chatter)."""

    def __init__(
        self, condition: str, limit: float, above: bool, hysteresis: float, severity: str
    ) -> None:
        check_hysteresis(condition, hysteresis)
        self.condition, self.limit, self.above = condition, float(limit), above
        self.hysteresis, self.severity = float(hysteresis), check_severity(severity)
        self.active = False

    def observe(self, t_ms: int, value: float) -> Change | None:
        if self.above:
            beyond, back = value > self.limit, value <= self.limit - self.hysteresis
        else:
            beyond, back = value < self.limit, value >= self.limit + self.hysteresis
        if not self.active and beyond:
            self.active = True
            side = "above" if self.above else "below"
            return Change(
                self.condition, True, self.severity, t_ms, value, f"{value:g} {side} {self.limit:g}"
            )
        if self.active and back:
            self.active = False
            return Change(
                self.condition,
                False,
                self.severity,
                t_ms,
                value,
                f"{value:g} back within {self.limit:g} ± {self.hysteresis:g}",
            )
        return None

    def state(self) -> dict[str, Any]:
        return {"active": self.active}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.active = bool(state["active"])


class RateOfChange:
    """|dv/dt| between consecutive readings above `max_per_s`; clears below
    `max_per_s * (1 - hysteresis_fraction)`. Readings with non-increasing time are ignored
    for the rate (counted in `skipped`), never divided by."""

    def __init__(
        self,
        max_per_s: float,
        hysteresis_fraction: float = 0.2,
        severity: str = "warning",
        condition: str = "rate_of_change",
    ) -> None:
        check_rate(max_per_s, hysteresis_fraction)
        self.condition, self.max_per_s = condition, float(max_per_s)
        self.clear_below = max_per_s * (1 - hysteresis_fraction)
        self.severity = check_severity(severity)
        self.active = False
        self.last: tuple[int, float] | None = None
        self.skipped = 0

    def observe(self, t_ms: int, value: float) -> Change | None:
        last, self.last = self.last, (t_ms, value)
        if last is None:
            return None
        dt_s = (t_ms - last[0]) / 1000.0
        if dt_s <= 0:
            self.skipped += 1
            self.last = last
            return None
        rate = abs(value - last[1]) / dt_s
        if not self.active and rate > self.max_per_s:
            self.active = True
            return Change(
                self.condition,
                True,
                self.severity,
                t_ms,
                value,
                f"changing {rate:.4g}/s, limit {self.max_per_s:g}/s",
            )
        if self.active and rate <= self.clear_below:
            self.active = False
            return Change(
                self.condition,
                False,
                self.severity,
                t_ms,
                value,
                f"changing {rate:.4g}/s, back under {self.clear_below:.4g}/s",
            )
        return None

    def state(self) -> dict[str, Any]:
        return {"active": self.active, "last": self.last, "skipped": self.skipped}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.active, self.skipped = bool(state["active"]), int(state["skipped"])
        last = state["last"]
        self.last = None if last is None else (int(last[0]), float(last[1]))


class Flatline:
    """A stuck sensor: the value stayed within ±epsilon of where the run began for at least
    `seconds`. Clears on the first reading that moves."""

    def __init__(
        self,
        seconds: float,
        epsilon: float = 0.0,
        severity: str = "warning",
        condition: str = "flatline",
    ) -> None:
        check_flatline(seconds, epsilon)
        self.condition, self.span_ms, self.epsilon = condition, int(seconds * 1000), epsilon
        self.severity = check_severity(severity)
        self.active = False
        self.run: tuple[int, float] | None = None  # (start_ms, value at start)

    def observe(self, t_ms: int, value: float) -> Change | None:
        if self.run is None or abs(value - self.run[1]) > self.epsilon:
            self.run = (t_ms, value)
            if self.active:
                self.active = False
                return Change(
                    self.condition, False, self.severity, t_ms, value, "value moves again"
                )
            return None
        if not self.active and t_ms - self.run[0] >= self.span_ms:
            self.active = True
            return Change(
                self.condition,
                True,
                self.severity,
                t_ms,
                value,
                f"stuck at {self.run[1]:g} ±{self.epsilon:g} for {(t_ms - self.run[0]) / 1000:g} s",
            )
        return None

    def state(self) -> dict[str, Any]:
        return {"active": self.active, "run": self.run}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.active = bool(state["active"])
        run = state["run"]
        self.run = None if run is None else (int(run[0]), float(run[1]))


class Silence:
    """No reading for more than `seconds` (a silent sensor, or with a device key, a silent
    device). `seen(t_ms)` on every reading; `check(now_ms)` from the caller's clock."""

    def __init__(
        self, seconds: float, severity: str = "warning", condition: str = "silent"
    ) -> None:
        check_silence(seconds)
        self.condition, self.gap_ms = condition, int(seconds * 1000)
        self.severity = check_severity(severity)
        self.active = False
        self.last_ms: int | None = None

    def seen(self, t_ms: int) -> Change | None:
        if self.last_ms is None or t_ms > self.last_ms:
            self.last_ms = t_ms
        if self.active:
            self.active = False
            return Change(self.condition, False, self.severity, t_ms, None, "readings again")
        return None

    def check(self, now_ms: int) -> Change | None:
        if self.active or self.last_ms is None or now_ms - self.last_ms <= self.gap_ms:
            return None
        self.active = True
        return Change(
            self.condition,
            True,
            self.severity,
            now_ms,
            None,
            f"no reading for {(now_ms - self.last_ms) / 1000:g} s (limit {self.gap_ms / 1000:g} s)",
        )

    def state(self) -> dict[str, Any]:
        return {"active": self.active, "last_ms": self.last_ms}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.active, self.last_ms = bool(state["active"]), state["last_ms"]


class RfidWatch:
    """RFID presence events: an `arrive` of a tag not in `known_tags` raises `unknown_tag:<id>`
    (cleared when it departs); a tag present longer than `max_dwell_s` raises `dwell:<id>`
    (cleared when it departs). One condition per tag, so two strangers are two alerts."""

    def __init__(
        self,
        known_tags: Iterable[str] | None = None,
        max_dwell_s: float | None = None,
        unknown_severity: str = "warning",
        dwell_severity: str = "warning",
    ) -> None:
        self.known = None if known_tags is None else {t.upper() for t in known_tags}
        check_dwell(max_dwell_s)
        self.max_dwell_ms = None if max_dwell_s is None else int(max_dwell_s * 1000)
        self.unknown_severity = check_severity(unknown_severity)
        self.dwell_severity = check_severity(dwell_severity)
        self.present: dict[str, int] = {}  # tag -> arrive t_ms
        self.dwelling: set[str] = set()
        self.strangers: set[str] = set()

    def observe(self, t_ms: int, kind: str, tag: str) -> list[Change]:
        tag = tag.upper()
        out: list[Change] = []
        if kind == "arrive":
            self.present[tag] = t_ms
            if self.known is not None and tag not in self.known and tag not in self.strangers:
                self.strangers.add(tag)
                out.append(
                    Change(
                        f"unknown_tag:{tag}",
                        True,
                        self.unknown_severity,
                        t_ms,
                        None,
                        f"tag {tag} is not on the known list",
                    )
                )
        elif kind == "depart":
            self.present.pop(tag, None)
            if tag in self.dwelling:
                self.dwelling.discard(tag)
                out.append(
                    Change(
                        f"dwell:{tag}", False, self.dwell_severity, t_ms, None, f"tag {tag} left"
                    )
                )
            if tag in self.strangers:
                self.strangers.discard(tag)
                out.append(
                    Change(
                        f"unknown_tag:{tag}",
                        False,
                        self.unknown_severity,
                        t_ms,
                        None,
                        f"tag {tag} left",
                    )
                )
        return out

    def check(self, now_ms: int) -> list[Change]:
        if self.max_dwell_ms is None:
            return []
        out = []
        for tag, since in self.present.items():
            if tag not in self.dwelling and now_ms - since > self.max_dwell_ms:
                self.dwelling.add(tag)
                out.append(
                    Change(
                        f"dwell:{tag}",
                        True,
                        self.dwell_severity,
                        now_ms,
                        None,
                        f"tag {tag} present {(now_ms - since) / 1000:g} s "
                        f"(limit {self.max_dwell_ms / 1000:g} s)",
                    )
                )
        return out

    def state(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "dwelling": sorted(self.dwelling),
            "strangers": sorted(self.strangers),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.present = {k: int(v) for k, v in state["present"].items()}
        self.dwelling, self.strangers = set(state["dwelling"]), set(state["strangers"])


# --------------------------------------------------------------------------- novelty score
@dataclass(frozen=True)
class NoveltyParams:
    """The streaming novelty score's constants; one fixed set for every stream (see the README
    and novelty.json: chosen on the public NAB subset, never per file)."""

    warmup_readings: int = 100  # readings that only set the range and bin width
    bins: int = 20  # value bins across the warm-up range (bins beyond it are allowed)
    spatial_tolerance: float = 0.02  # a new extreme beyond range * this is anomalous at once
    escape_after_readings: int = 200  # range escapes count only after this many readings
    average_readings: int = 20  # short-term average of the surprise
    history_alpha: float = 0.002  # EWMA rate of the long-term surprise distribution
    learn_readings: int = 300  # readings before the likelihood is trusted
    min_variance: float = 0.0003  # floor of the surprise variance (a perfectly regular stream)
    count_tail: float = 0.25  # weight, in log p, of a Poisson count's tail beside the Gaussian
    red_p: float = 1e-6  # tail probability that counts as an alarm; repeats are damped
    holdoff_readings: int = 20  # an alarm or escape this soon after the last one is a repeat
    max_transitions: int = 4096  # memory bound of the transition table
    daily_buckets: int = 24  # time-of-day level profile buckets (0: off)
    daily_alpha: float = 0.1  # EWMA rate of each bucket's level and deviation
    daily_z: float = 4.0  # deviations from the hour's level that start to surprise
    alert_threshold: float = 0.613  # score that raises the `novelty` condition
    clear_readings: int = 20  # readings below the threshold that clear it
    alert_after_readings: int = 3600  # the alert stays quiet while the stream is learnt
    alert_tail_p: float = 1e-5  # ... and only if the stream scored that high on at most this
    # fraction of its readings so far (calibration.py): about one raise a day at 1 Hz
    tail_bins: int = 32  # histogram bins between alert_threshold and 1
    tail_decay: float = 1.15e-6  # per reading: the score history's half-life (a week at 1 Hz)

    @classmethod
    def load(cls, path: Path = NOVELTY_CONFIG_PATH) -> NoveltyParams:
        raw = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise DetectorConfigError(f"{path.name}: unknown keys {sorted(unknown)}")
        return cls(**raw)


ESCAPE_SCORE: Final = 0.9  # a range escape scores from this (just out) to 1 (a range beyond)
_LOG_P_FLOOR: Final = math.log(1e-10)
_SQRT2: Final = math.sqrt(2.0)


_COUNT_TAIL_FROM: Final = 1e-3  # Gaussian tails above this are left as they are (cost)


def poisson_tail(k: float, lam: float) -> float:
    """P(N >= k) for N ~ Poisson(lam), continued to real k: the regularised lower incomplete
    gamma P(k, lam), by its power series (k > 0; 1 for k <= 0)."""
    if k <= 0.0:
        return 1.0
    if lam <= 0.0:
        return 0.0
    term = total = 1.0 / k
    a = k
    for _ in range(200):
        a += 1.0
        term *= lam / a
        total += term
        if term < total * 1e-10:
            break
    return min(1.0, math.exp(k * math.log(lam) - lam - math.lgamma(k)) * total)


class _Likelihood:
    """How unusual the recent surprise is for this stream: the short-term mean of a surprise
    in [0, 1] against its own long-term EWMA mean and variance (a Gaussian tail, blended with
    the Poisson tail of the surprise's sum: `count_tail`), as -log10(tail p) / 10 (0.6
    means p = 1e-6). An alarm within `holdoff_readings` of the previous one is damped."""

    __slots__ = ("ring", "ri", "rsum", "mu", "var", "k", "since_red")

    def __init__(self, p: NoveltyParams) -> None:
        self.ring = [0.0] * p.average_readings
        self.ri, self.rsum, self.mu, self.var, self.k = 0, 0.0, 0.0, 0.0, 0
        self.since_red = 1 << 30  # readings since the last alarm

    def score(self, surprise: float, p: NoveltyParams) -> float:
        i = self.ri
        self.rsum += surprise - self.ring[i]
        self.ring[i] = surprise
        self.ri = (i + 1) % p.average_readings
        avg = self.rsum / p.average_readings
        k = self.k
        self.k = k + 1
        mu, var = self.mu, self.var
        alpha = max(p.history_alpha, 1.0 / (k + 1))
        d = avg - mu
        self.mu = mu + alpha * d
        self.var = (1.0 - alpha) * (var + alpha * d * d)
        if k < p.learn_readings:
            return 0.0
        tail = 0.5 * math.erfc((avg - mu) / math.sqrt(max(var, p.min_variance)) / _SQRT2)
        if p.count_tail and tail < _COUNT_TAIL_FROM:
            # a surprise is mostly 0 with rare hits near 1: its sum over the window behaves
            # like a count of rare events, whose tail is far heavier than a Gaussian's
            counted = poisson_tail(self.rsum, mu * p.average_readings)
            if counted > tail:
                w = p.count_tail
                tail = math.exp((1.0 - w) * math.log(tail + 1e-300) + w * math.log(counted))
        self.since_red += 1
        if tail <= p.red_p:
            if self.since_red <= p.holdoff_readings:
                tail = p.red_p * 100.0  # the alarm already went off: damp its repeats
            self.since_red = 0
        return min(1.0, math.log(tail + 1e-10) / _LOG_P_FLOOR)

    def state(self) -> list[Any]:
        return [self.ring, self.ri, self.rsum, self.mu, self.var, self.k, self.since_red]

    def restore(self, s: Sequence[Any]) -> None:
        self.ring = [float(v) for v in s[0]]
        self.ri, self.rsum, self.mu, self.var, self.k, self.since_red = s[1:]


class NoveltyScore:
    """A streaming anomaly score in [0, 1] per reading, O(1) time and bounded memory.

    1. Sequence: values are quantised into bins whose width is fixed after a warm-up; a
       first-order transition table (previous bin -> bin, with neighbouring bins counting half)
       gives the surprise 1 / (1 + c^2) of the observed transition (1 = never seen).
    2. Time of day (when readings carry a time): a level profile per hour of the day (EWMA
       mean and mean absolute deviation per bucket); a value more than `daily_z` deviations
       from its hour's level is surprising.
    3. Likelihood: each surprise is calibrated against the stream's own history (_Likelihood);
       the score is the larger of the two.
    4. Range: a value beyond the range seen so far by more than `spatial_tolerance` of that
       range scores at least ESCAPE_SCORE at once, 1 when it escapes by a whole range.
    Step 3 is what makes one threshold work across very different streams; step 4 catches
    level escapes before any pattern.
    """

    __slots__ = (
        "p",
        "n",
        "lo",
        "hi",
        "lo0",
        "width",
        "prev",
        "table",
        "entries",
        "lik",
        "day_lik",
        "day_mean",
        "day_dev",
        "day_seen",
        "since_escape",
    )

    def __init__(self, params: NoveltyParams | None = None) -> None:
        self.p = params or NoveltyParams()
        self.n = 0
        self.lo, self.hi = math.inf, -math.inf
        self.lo0, self.width = 0.0, 0.0
        self.prev: int | None = None
        self.table: dict[int, dict[int, int]] = {}
        self.entries = 0
        self.lik = _Likelihood(self.p)
        self.day_lik = _Likelihood(self.p)
        self.day_mean: list[float | None] = [None] * self.p.daily_buckets
        self.day_dev = [0.0] * self.p.daily_buckets
        self.day_seen = [0] * self.p.daily_buckets
        self.since_escape = 1 << 30  # readings since the last range escape

    def update(self, value: float, t_s: float | None = None) -> float:
        """Score one reading; `t_s` (epoch seconds of the reading) enables the time-of-day
        profile."""
        p = self.p
        n = self.n
        self.n = n + 1
        lo, hi = self.lo, self.hi
        escaped = False
        if hi > lo:
            margin = (hi - lo) * p.spatial_tolerance
            escaped = value > hi + margin or value < lo - margin
            if escaped:
                beyond = (value - hi if value > hi else lo - value) / (hi - lo)
        if value < lo:
            self.lo = value
        if value > hi:
            self.hi = value
        day_surprise = (
            self._day_surprise(value, t_s) if t_s is not None and p.daily_buckets else None
        )
        if n < p.warmup_readings:
            return 0.0
        if self.width == 0.0:
            self.lo0 = self.lo
            self.width = (self.hi - self.lo) / p.bins or 1.0
        score = self.lik.score(self._surprise(int((value - self.lo0) // self.width)), p)
        if day_surprise is not None:
            score = max(score, self.day_lik.score(day_surprise, p))
        self.since_escape += 1
        if escaped and n >= p.escape_after_readings:
            repeat = self.since_escape <= p.holdoff_readings
            self.since_escape = 0
            if not repeat:
                # graded by how far it escaped, so a stream's usual small new extremes and a
                # far escape land in different bins of the alert's score history
                return max(score, ESCAPE_SCORE + (1.0 - ESCAPE_SCORE) * min(1.0, beyond))
        return score

    def _day_surprise(self, value: float, t_s: float) -> float:
        p = self.p
        b = int(t_s % 86_400.0 / 86_400.0 * p.daily_buckets)
        mean = self.day_mean[b]
        if mean is None:
            self.day_mean[b] = value
            return 0.0
        dev = self.day_dev[b]
        seen = self.day_seen[b]
        # a bucket's deviation means something only after about one EWMA memory (1 / alpha
        # readings): before that a new hour's second reading looked like a 100-sigma jump
        learnt = seen * p.daily_alpha >= 1.0
        if not learnt:
            self.day_seen[b] = seen + 1
        z = abs(value - mean) / dev if dev > 0 and learnt else 0.0
        self.day_mean[b] = mean + p.daily_alpha * (value - mean)
        self.day_dev[b] = dev + p.daily_alpha * (abs(value - mean) - dev)
        return min(1.0, z / (2.0 * p.daily_z)) if z > p.daily_z else 0.0

    def _surprise(self, b: int) -> float:
        prev, self.prev = self.prev, b
        if prev is None:
            return 0.0
        nxt = self.table.get(prev)
        if nxt is None:
            nxt = self.table[prev] = {}
        c = nxt.get(b, 0) + 0.5 * (nxt.get(b - 1, 0) + nxt.get(b + 1, 0))
        if b not in nxt:
            self.entries += 1
            if self.entries > self.p.max_transitions:
                self._forget()
                nxt = self.table.setdefault(prev, {})
                self.entries += 1
        nxt[b] = nxt.get(b, 0) + 1
        return 1.0 / (1.0 + c * c)

    def _forget(self) -> None:
        """Halve every count and drop those that reach zero: memory stays bounded and old
        transitions fade instead of the table growing with every new bin."""
        table: dict[int, dict[int, int]] = {}
        entries = 0
        for a, nxt in self.table.items():
            kept = {b: c // 2 for b, c in nxt.items() if c >= 2}
            if kept:
                table[a] = kept
                entries += len(kept)
        self.table, self.entries = table, entries

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "lo": self.lo,
            "hi": self.hi,
            "lo0": self.lo0,
            "width": self.width,
            "prev": self.prev,
            "since_escape": self.since_escape,
            "lik": self.lik.state(),
            "day_lik": self.day_lik.state(),
            "day_mean": self.day_mean,
            "day_dev": self.day_dev,
            "day_seen": self.day_seen,
            "table": [[a, list(nxt.items())] for a, nxt in self.table.items()],
        }

    def restore(self, s: Mapping[str, Any]) -> None:
        for key in ("n", "lo", "hi", "lo0", "width", "prev", "since_escape"):
            setattr(self, key, s[key])
        self.lik.restore(s["lik"])
        self.day_lik.restore(s["day_lik"])
        self.day_mean = list(s["day_mean"])
        self.day_dev = [float(v) for v in s["day_dev"]]
        # a checkpoint from before the bucket warm-up: buckets with a level have learnt
        learnt = math.ceil(1.0 / self.p.daily_alpha)
        self.day_seen = (
            [int(v) for v in s["day_seen"]]
            if "day_seen" in s
            else [0 if m is None else learnt for m in self.day_mean]
        )
        self.table = {int(a): {int(b): int(c) for b, c in items} for a, items in s["table"]}
        self.entries = sum(len(v) for v in self.table.values())


class Novelty:
    """NoveltyScore as an alert condition: raise at `alert_threshold` when that score is also
    rare for this stream (at most `alert_tail_p` of its readings scored as high: ScoreTail),
    clear after `clear_readings` readings below the threshold."""

    def __init__(
        self,
        params: NoveltyParams | None = None,
        severity: str = "warning",
        condition: str = "novelty",
    ) -> None:
        self.score = NoveltyScore(params)
        p = self.score.p
        self.tail = ScoreTail(p.alert_threshold, p.tail_bins, p.tail_decay)
        self.condition, self.severity = condition, check_severity(severity)
        self.active = False
        self.below = 0
        self.last_score = 0.0

    def observe(self, t_ms: int, value: float) -> Change | None:
        s = self.last_score = self.score.update(value, t_ms / 1000.0)
        p = self.score.p
        # the history also learns while the alert is quiet: what a stream did in its first hour
        # is its own normal too
        seen_as_high = self.tail.tail(s)
        rare = self.score.n > p.alert_after_readings and seen_as_high <= p.alert_tail_p
        self.tail.add(s)
        if s >= p.alert_threshold:
            self.below = 0
            if not self.active and rare:
                self.active = True
                return Change(
                    self.condition,
                    True,
                    self.severity,
                    t_ms,
                    value,
                    f"anomaly score {s:.3f} >= {p.alert_threshold:g}, a score this "
                    f"stream gave on {seen_as_high:.1e} of its readings",
                )
        elif self.active:
            self.below += 1
            if self.below >= p.clear_readings:
                self.active = False
                return Change(
                    self.condition,
                    False,
                    self.severity,
                    t_ms,
                    value,
                    f"score under {p.alert_threshold:g} for {self.below} readings",
                )
        return None

    def state(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "below": self.below,
            "score": self.score.state(),
            "tail": self.tail.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.active, self.below = bool(state["active"]), int(state["below"])
        self.score.restore(state["score"])
        if "tail" in state:  # a checkpoint from before the alert's history starts it afresh
            self.tail.restore(state["tail"])
