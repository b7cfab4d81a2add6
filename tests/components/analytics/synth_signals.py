"""Detector test signals from edge_sim's world: a noisy 20 °C signal, one reading per second,
with the world's own faults (spike, drift, stuck, dropout) switched on at chosen times.
Deterministic: the world's noise is a function of (seed, name, index)."""

from __future__ import annotations

import math

from edge_sim.world.faults import Fault
from edge_sim.world.signals import Signal

T0_MS = 1_767_225_600_000
NOISE_SIGMA = 0.05


def series(n: int, *faults: Fault, seed: int = 7) -> list[tuple[int, float]]:
    sig = Signal(
        "temperature_c",
        base=20.0,
        noise_sigma=NOISE_SIGMA,
        noise_rate_hz=1.0,
        seed=seed,
        faults=faults,
    )
    out = []
    for i in range(n):
        v = sig.value(float(i))
        if not math.isnan(v):  # a dropout: the sensor delivers no reading
            out.append((T0_MS + i * 1000, v))
    return out


def spike(n: int, at: int, width: int, height: float, seed: int = 7) -> list[tuple[int, float]]:
    return series(n, Fault("spike", at, at + width, height), seed=seed)


def drift(n: int, start: int, per_s: float) -> list[tuple[int, float]]:
    return series(n, Fault("drift", start, None, per_s * 3600.0))


def stuck(n: int, start: int, end: int) -> list[tuple[int, float]]:
    return series(n, Fault("stuck", start, end))


def dropout(n: int, start: int, end: int) -> list[tuple[int, float]]:
    return series(n, Fault("dropout", start, end))
