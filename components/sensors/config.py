"""The `sensors` component's configuration (recipes/Sensors.yaml's DefaultConfiguration is
checked against this Spec); the drivers it names are components/lib/drivers/registry.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from components.core.config import Spec, setting
from components.core.log.config import LogSettings
from components.lib.drivers.registry import DRIVERS, Chip, parse_options

GPIO_KINDS = ("pulse", "contact", "button")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True)
class GpioInput:
    """One `gpioInputs` entry, parsed."""

    kind: str  # pulse, contact or button
    pin: str  # the BCM pin name, e.g. GPIO17
    name: str  # part of the stream name
    sample_interval_s: float | None  # pulses: own reporting interval; None: the component's

    @property
    def stream(self) -> str:
        return f"{self.kind}/{self.name}@{self.pin}"

    def interval_s(self, default: float) -> float:
        """Time between pulse readings: its own, else the component's `default`."""
        return default if self.sample_interval_s is None else self.sample_interval_s


def _interval(entry: dict[str, Any], i: int) -> float | None:
    interval = entry.get("sampleIntervalSeconds")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0.05
    ):
        raise ValueError(f"entry {i}: sampleIntervalSeconds must be a number >= 0.05")
    return None if interval is None else float(interval)


def _parse_chips(value: list[Any]) -> tuple[Chip, ...]:
    """Each entry: {"driver", "address": "0x76", "sampleIntervalSeconds"?, options...}, as a
    Chip whose options its driver has checked."""
    chips: list[Chip] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("driver") not in DRIVERS:
            raise ValueError(f"entry {i}: needs 'driver' out of {list(DRIVERS)}")
        try:
            address = int(str(entry["address"]), 0)
        except (KeyError, ValueError):
            raise ValueError(f"entry {i}: address {entry.get('address')!r} is no number") from None
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"entry {i}: address 0x{address:02x} outside 0x03..0x77")
        if any(c.address == address for c in chips):
            raise ValueError(f"entry {i}: address 0x{address:02x} configured twice")
        interval = _interval(entry, i)
        try:
            options = parse_options(entry["driver"], entry)
        except ValueError as exc:
            raise ValueError(f"entry {i} ({entry['driver']}): {exc}") from None
        chips.append(Chip(entry["driver"], address, interval, options))
    return tuple(chips)


def _parse_gpio(value: list[Any]) -> tuple[GpioInput, ...]:
    """Each entry: {"kind": pulse|contact|button, "pin": "GPIO17", "name": "flow1",
    "sampleIntervalSeconds"?}, as a GpioInput."""
    inputs: list[GpioInput] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("kind") not in GPIO_KINDS:
            raise ValueError(f"entry {i}: needs 'kind' out of {list(GPIO_KINDS)}")
        for field in ("pin", "name"):
            if not isinstance(entry.get(field), str) or not _NAME_RE.match(entry[field]):
                raise ValueError(f"entry {i}: '{field}' must be a name like GPIO17 / flow1")
        if any(g.pin == entry["pin"] for g in inputs):
            raise ValueError(f"entry {i}: pin {entry['pin']} configured twice")
        inputs.append(GpioInput(entry["kind"], entry["pin"], entry["name"], _interval(entry, i)))
    return tuple(inputs)


@dataclass(frozen=True)
class SensorsSettings(LogSettings):
    """The sensors component's settings: one field per configuration key."""

    i2cBus: int = setting(
        1, "I2C adapter number (FLOORLINE_I2C_BUS=sim overrides it)", min=0, max=255
    )
    sampleIntervalSeconds: float = setting(
        1.0, "default time between readings of a chip", min=0.05, max=86400
    )
    chips: tuple[Chip, ...] = setting(
        [{"driver": "bme280", "address": "0x76"}],
        "the chips on the bus: {driver, address (hex text), sampleIntervalSeconds?, options...}",
        check=_parse_chips,
        raw=list,
    )
    gpioInputs: tuple[GpioInput, ...] = setting(
        [],
        "pulse counters, door contacts, buttons: "
        "{kind (pulse, contact, button), pin (e.g. GPIO17), name, sampleIntervalSeconds?}",
        check=_parse_gpio,
        raw=list,
    )
    logBatchMaxRecords: int = setting(100, "readings per log transaction at most", min=1, max=500)
    logBatchMaxSeconds: float = setting(
        0.1, "longest a reading waits in memory before commit", min=0.0, max=600
    )
    healthIntervalSeconds: float = setting(
        60.0, "period of the per-chip statistics record", min=0.1, max=86400
    )
    publishLive: bool = setting(True, "publish live values on local pub/sub (best effort)")
    reinitIntervalSeconds: float = setting(
        5.0, "how often a faulty chip is initialised again", min=0.1, max=3600
    )
    retryAttempts: int = setting(
        3, "tries per bus operation before a chip is faulty", min=1, max=10
    )
    retryBackoffSeconds: float = setting(
        0.005, "first retry delay; doubles per retry", min=0.0, max=1.0
    )


SPEC = Spec(SensorsSettings)
