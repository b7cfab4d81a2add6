"""The faults a fleet run injects: read from a scenario file, checked before the run starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from edge_sim.fleet_site import CHIPS, COMPONENTS, UPLINK, short_name


class ScenarioError(ValueError):
    pass


def resolve_component(text: str) -> str:
    """The full component name for `text`, given as the live table shows it (`Uplink`) or
    in full (`com.floorline.Uplink`), in any case; else ScenarioError naming the valid ones."""
    for full in COMPONENTS:
        if text.lower() in (full.lower(), short_name(full).lower()):
            return full
    valid = ", ".join(f"{short_name(c)} ({c})" for c in COMPONENTS)
    raise ScenarioError(f"unknown component {text!r}: one of {valid}")


def check_within(faults: list[ScheduledFault], duration_s: float) -> None:
    """Refuse faults the run would never reach, before it starts (rather than skip them)."""
    late = [f for f in faults if f.at_s >= duration_s]
    if late:
        what = "; ".join(f"{f.kind} at {f.at_s:g} s" for f in late)
        raise ScenarioError(
            f"{len(late)} fault(s) start at or after the end of the "
            f"{duration_s:g} s run: {what} (lengthen --duration or move them)"
        )


@dataclass(frozen=True)
class ScheduledFault:
    """A fault the fleet runner injects `at_s` seconds into the run (the world's own faults,
    edge_sim/world/faults.py, are what a simulated chip does)."""

    at_s: float
    kind: str  # one of KINDS
    devices: tuple[str, ...] | None  # None: every device
    duration_s: float = 0.0
    component: str | None = None
    magnitude: float = 1.0
    chip: str | None = None  # unplug: the chip's address

    # outage: the device's network link is cut; kill: SIGKILL of a component (random if not
    # named); kinesis_outage: Kinesis refuses every call; noisy_serial: RFID lines corrupt
    # bytes (magnitude = noise bytes per frame); unplug: a chip stops answering on the bus
    # (the world's `unplugged` fault, timed from the sensors' start) until the end of
    # `duration` (0: for good).
    # disk_pressure: another program fills the device's data disk until only `magnitude`
    # bytes are free (needs the fleet's `data_disk_bytes`: a real small filesystem).
    # log_damage: a power cut that damages the log: every component of the device is killed,
    # then garbage lands on a page no record lives on (the streams index); the components
    # restart together, find the file damaged, and one of them salvages it.
    KINDS: ClassVar[tuple[str, ...]] = (
        "outage",
        "kill",
        "kinesis_outage",
        "noisy_serial",
        "disk_pressure",
        "unplug",
        "log_damage",
    )


def load_fault_schedule(path: Path | None, default: list[dict[str, Any]]) -> list[ScheduledFault]:
    """The faults a run injects, from a YAML scenario file (else `default`), checked and in
    time order: `faults: [{at: 30, fault: outage, duration: 20, devices:
    [dev-001]}, {at: 50, fault: kill, component: com.floorline.Uplink}]`."""
    raw = default
    if path is not None:
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{path}: {exc}") from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("faults", []), list):
            raise ScenarioError(f"{path}: expected a mapping with a 'faults' list")
        raw = doc.get("faults", [])
    faults = []
    for i, f in enumerate(raw):
        if not isinstance(f, Mapping) or f.get("fault") not in ScheduledFault.KINDS:
            raise ScenarioError(f"fault {i}: 'fault' must be one of {ScheduledFault.KINDS}")
        try:
            at = float(f.get("at", 0))
            duration = float(f.get("duration", 0))
        except (TypeError, ValueError):
            raise ScenarioError(f"fault {i}: 'at' and 'duration' are seconds") from None
        devices = f.get("devices")
        if devices is not None and not (
            isinstance(devices, list) and all(isinstance(d, str) for d in devices)
        ):
            raise ScenarioError(f"fault {i}: 'devices' is a list of thing names")
        component = f.get("component")
        if component is not None:
            if f["fault"] != "kill":
                raise ScenarioError(f"fault {i}: 'component' applies to kill only")
            try:
                component = resolve_component(str(component))
            except ScenarioError as exc:
                raise ScenarioError(f"fault {i}: {exc}") from None
        try:
            magnitude = float(f.get("magnitude", 1.0))
        except (TypeError, ValueError):
            raise ScenarioError(f"fault {i}: 'magnitude' is a number") from None
        chip = f.get("chip")
        if (chip is not None) != (f["fault"] == "unplug"):
            raise ScenarioError(
                f"fault {i}: 'chip' (an address such as 0x44) goes with unplug, and only with it"
            )
        if chip is not None and str(chip) not in {c["address"] for c in CHIPS}:
            raise ScenarioError(
                f"fault {i}: no chip at {chip}; the simulated chips are "
                + ", ".join(f"{c['driver']} at {c['address']}" for c in CHIPS)
            )
        faults.append(
            ScheduledFault(
                at,
                f["fault"],
                tuple(devices) if devices else None,
                duration,
                component,
                magnitude,
                None if chip is None else str(chip),
            )
        )
    return sorted(faults, key=lambda f: f.at_s)


DEFAULT_FAULTS: list[dict[str, Any]] = [
    {"at": 0.35, "fault": "outage", "duration": 0.25},  # fractions of the run (see _scale)
    {"at": 0.5, "fault": "kill", "component": UPLINK},
]
