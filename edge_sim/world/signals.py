"""Physical signals as pure functions of time: value(t_s) for a given seed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from components.core import battery
from edge_sim.world import noise
from edge_sim.world.faults import DROPPED, SIGNAL_FAULTS, Fault

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Signal:
    """base + daily cycle + drift + white noise (resampled at `noise_rate_hz`), then faults.

    The noise sample is held between updates, like a sensor's own conversion noise.
    """

    name: str
    base: float
    daily_amplitude: float = 0.0
    daily_peak_s: float = 15 * 3600.0  # warmest mid-afternoon
    drift_per_hour: float = 0.0
    noise_sigma: float = 0.0
    noise_rate_hz: float = 10.0
    seed: int = 0
    low: float = -math.inf
    high: float = math.inf
    faults: Sequence[Fault] = field(default_factory=tuple)

    def clean(self, t_s: float) -> float:
        v = self.base + self.drift_per_hour * t_s / 3600.0
        if self.daily_amplitude:
            v += self.daily_amplitude * math.cos(2 * math.pi * (t_s - self.daily_peak_s) / DAY_S)
        if self.noise_sigma:
            v += self.noise_sigma * noise.gaussian(
                self.seed, self.name, int(t_s * self.noise_rate_hz)
            )
        return v

    def value(self, t_s: float) -> float:
        faults = [f for f in self.faults if f.applies_to(self.name) and f.active(t_s)]
        stuck = next((f for f in faults if f.kind == "stuck"), None)
        v = self.clean(stuck.start_s if stuck else t_s)
        for f in faults:
            if f.kind == "dropout":
                return DROPPED
            if f.kind == "spike":
                v += f.magnitude
            elif f.kind == "drift":
                v += f.magnitude * (t_s - f.start_s) / 3600.0
            elif f.kind == "noisy":
                v += f.magnitude * noise.gaussian(
                    self.seed, self.name + "/noisy", int(t_s * self.noise_rate_hz)
                )
        return min(self.high, max(self.low, v))


@dataclass(frozen=True, slots=True)
class Vibration:
    """Machine vibration along one axis: running frequency, a fault harmonic, broadband noise."""

    name: str
    running_hz: float = 24.5  # a 1470 rpm motor
    amplitude_g: float = 0.05
    harmonic: int = 3
    harmonic_amplitude_g: float = 0.0
    noise_g: float = 0.005
    offset_g: float = 0.0  # gravity on this axis
    seed: int = 0
    faults: Sequence[Fault] = field(default_factory=tuple)

    def value(self, t_s: float) -> float:
        w = 2 * math.pi * self.running_hz * t_s
        v = self.offset_g + self.amplitude_g * math.sin(w)
        v += self.harmonic_amplitude_g * math.sin(self.harmonic * w)
        v += self.noise_g * noise.gaussian(self.seed, self.name, int(t_s * 6400))
        for f in self.faults:
            if f.applies_to(self.name) and f.active(t_s):
                if f.kind == "spike":
                    v += f.magnitude
                elif f.kind == "noisy":
                    v += f.magnitude * noise.gaussian(self.seed, self.name + "/n", int(t_s * 6400))
                elif f.kind == "drift":  # a growing imbalance
                    v += f.magnitude * (t_s - f.start_s) / 3600.0 * math.sin(w)
        return v


@dataclass(frozen=True, slots=True)
class Battery:
    """The voltage of a battery pack powering a sensor node: `cells` lithium-ion cells in
    series, starting at `start_pct`, drained in `life_s` from full to empty at a steady load
    (with a little load noise); at `replace_at_pct` someone swaps in a full pack. Faults act
    on the voltage as on any signal (a spike is a load step, a dropout a loose terminal)."""

    name: str
    cells: int = 3
    start_pct: float = 100.0
    life_s: float = 8 * 3600.0
    replace_at_pct: float = 5.0
    noise_v: float = 0.005
    seed: int = 0
    faults: Sequence[Fault] = field(default_factory=tuple)

    def charge_pct(self, t_s: float) -> float:
        per_s = 100.0 / self.life_s
        usable = 100.0 - self.replace_at_pct
        first = (self.start_pct - self.replace_at_pct) / per_s  # until the first swap
        if t_s < first:
            return self.start_pct - per_s * t_s
        return 100.0 - (per_s * (t_s - first)) % usable

    def value(self, t_s: float) -> float:
        v = battery.volts(self.charge_pct(t_s), self.cells)
        v += self.noise_v * noise.gaussian(self.seed, self.name, int(t_s * 10))
        for f in self.faults:
            if f.applies_to(self.name) and f.active(t_s):
                if f.kind == "dropout":
                    return DROPPED
                if f.kind == "spike":
                    v += f.magnitude
        return v


@dataclass(frozen=True, slots=True)
class Pulses:
    """A flow meter's pulse train: cumulative count at t (rate with slow wander)."""

    name: str
    rate_hz: float
    wander: float = 0.1  # relative, over a 10-minute period

    def count(self, t_s: float) -> int:
        period = 600.0
        phase = self.wander * self.rate_hz * period / (2 * math.pi)
        return int(self.rate_hz * t_s - phase * math.cos(2 * math.pi * t_s / period) + phase)


def build_signal(name: str, spec: dict[str, Any], seed: int, faults: Sequence[Fault]) -> Any:
    """A signal from a scenario entry (camelCase keys as in the scenario files). It keeps only
    the faults that act on it: a value is asked for on every simulated conversion."""
    faults = tuple(f for f in faults if f.kind in SIGNAL_FAULTS and f.applies_to(name))
    kind = spec.get("type", "signal")
    if kind == "battery":
        return Battery(
            name=name,
            cells=int(spec.get("cells", 3)),
            start_pct=float(spec.get("startPct", 100.0)),
            life_s=float(spec.get("lifeSeconds", 8 * 3600.0)),
            replace_at_pct=float(spec.get("replaceAtPct", 5.0)),
            noise_v=float(spec.get("noiseVolts", 0.005)),
            seed=seed,
            faults=faults,
        )
    if kind == "vibration":
        return Vibration(
            name=name,
            running_hz=float(spec.get("runningHz", 24.5)),
            amplitude_g=float(spec.get("amplitudeG", 0.05)),
            harmonic=int(spec.get("harmonic", 3)),
            harmonic_amplitude_g=float(spec.get("harmonicAmplitudeG", 0.0)),
            noise_g=float(spec.get("noiseG", 0.005)),
            offset_g=float(spec.get("offsetG", 0.0)),
            seed=seed,
            faults=faults,
        )
    return Signal(
        name=name,
        base=float(spec["base"]),
        daily_amplitude=float(spec.get("dailyAmplitude", 0.0)),
        drift_per_hour=float(spec.get("driftPerHour", 0.0)),
        noise_sigma=float(spec.get("noiseSigma", 0.0)),
        seed=seed,
        low=float(spec.get("low", -math.inf)),
        high=float(spec.get("high", math.inf)),
        faults=faults,
    )
