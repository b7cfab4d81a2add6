"""What each simulated chip sees: its signals and its faults over time, from a scenario.

A scenario is plain data (JSON/YAML) so a component process can rebuild the same world:

    {"seed": 7, "chips": [
       {"chip": "bme280", "address": "0x76",
        "signals": {"temperature_c": {"base": 21, "dailyAmplitude": 3, "noiseSigma": 0.05}},
        "faults": [{"kind": "unplugged", "startSeconds": 30, "endSeconds": 45}]}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sim.world import noise
from edge_sim.world.faults import Fault
from edge_sim.world.signals import build_signal

# What each chip measures when the scenario says nothing: a quiet, plausible factory hall.
DEFAULT_SIGNALS: dict[str, dict[str, dict[str, Any]]] = {
    "bme280": {
        "temperature_c": {"base": 21.0, "dailyAmplitude": 2.0, "noiseSigma": 0.02},
        "pressure_pa": {"base": 101325.0, "noiseSigma": 2.0},
        "humidity_pct": {"base": 45.0, "noiseSigma": 0.2, "low": 0, "high": 100},
    },
    "sht3x": {
        "temperature_c": {"base": 22.0, "dailyAmplitude": 2.0, "noiseSigma": 0.02},
        "humidity_pct": {"base": 40.0, "noiseSigma": 0.2, "low": 0, "high": 100},
    },
    "adxl345": {
        "accel_x_g": {"type": "vibration", "amplitudeG": 0.2},
        "accel_y_g": {"type": "vibration", "amplitudeG": 0.05},
        "accel_z_g": {"type": "vibration", "amplitudeG": 0.02, "offsetG": 1.0},
    },
    "ina219": {
        "current_a": {"base": 0.8, "noiseSigma": 0.01},
        "bus_voltage_v": {"base": 12.0, "noiseSigma": 0.01},
    },
    "ads1115": {
        "ain0_v": {"base": 1.8, "noiseSigma": 0.002},  # 12 mA across 150 Ω
        "ain1_v": {"base": 0.0},
        "ain2_v": {"base": 0.0},
        "ain3_v": {"base": 0.0},
    },
}


@dataclass
class ChipWorld:
    """Signals and chip-level faults for one chip."""

    signals: Mapping[str, Any] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    seed: int = 0
    key: str = "chip"

    def __post_init__(self) -> None:
        # Sorted once: a chip model asks these on every bus transaction.
        self._unplugged = tuple(f for f in self.faults if f.kind == "unplugged")
        self._noisy_line = tuple(f for f in self.faults if f.kind == "noisy_line")
        self.bus_faults = bool(self._unplugged or self._noisy_line)

    def values(self, t_s: float) -> dict[str, float]:
        return {name: s.value(t_s) for name, s in self.signals.items()}

    def value(self, name: str, t_s: float) -> float:
        return float(self.signals[name].value(t_s))

    def present(self, t_s: float) -> bool:
        return not any(f.active(t_s) for f in self._unplugged)

    def line_error(self, t_s: float, index: int) -> bool:
        """Whether transaction `index` at `t_s` is hit by line noise (deterministic)."""
        p = sum(f.magnitude for f in self._noisy_line if f.active(t_s))
        return p > 0 and noise.uniform(self.seed, self.key + "/line", index) < p

    @staticmethod
    def constant(**values: float) -> ChipWorld:
        return ChipWorld(
            signals={k: build_signal(k, {"base": v}, 0, ()) for k, v in values.items()}
        )


@dataclass(frozen=True)
class ChipSpec:
    chip: str
    address: int
    world: ChipWorld
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_address(value: int | str) -> int:
    return value if isinstance(value, int) else int(str(value), 0)


def chip_world(
    chip: str,
    key: str,
    seed: int,
    signals: Mapping[str, Any] | None = None,
    faults: list[dict[str, Any]] | None = None,
) -> ChipWorld:
    parsed = tuple(Fault.from_dict(f) for f in faults or ())
    merged = {**DEFAULT_SIGNALS.get(chip, {}), **(signals or {})}
    built = {name: build_signal(name, spec, seed, parsed) for name, spec in merged.items()}
    return ChipWorld(signals=built, faults=parsed, seed=seed, key=key)


def load(scenario: Mapping[str, Any]) -> list[ChipSpec]:
    seed = int(scenario.get("seed", 0))
    out = []
    for entry in scenario.get("chips", []):
        chip = entry["chip"]
        address = parse_address(entry["address"])
        key = f"{chip}@0x{address:02x}"
        world = chip_world(chip, key, seed, entry.get("signals"), entry.get("faults"))
        options = {
            k: v for k, v in entry.items() if k not in ("chip", "address", "signals", "faults")
        }
        out.append(ChipSpec(chip, address, world, options))
    return out


def read_scenario_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A scenario file as plain data: YAML by its suffix, else JSON."""
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        return dict(yaml.safe_load(text))
    return dict(json.loads(text))
