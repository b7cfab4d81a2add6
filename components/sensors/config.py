"""The `sensors` component's configuration (recipes/Sensors.yaml's DefaultConfiguration is
checked against this Spec); the drivers it names are components/lib/drivers/registry.py's."""

from __future__ import annotations

import re
from typing import Any

from components.core.config import Key, Spec
from components.core.log.config import LOG_KEYS
from components.lib.drivers.registry import DRIVERS, chip_address, make_driver

GPIO_KINDS = ("pulse", "contact", "button")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _interval_ok(entry: dict[str, Any], i: int) -> None:
    interval = entry.get("sampleIntervalSeconds")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, int | float) or interval < 0.05
    ):
        raise ValueError(f"entry {i}: sampleIntervalSeconds must be a number >= 0.05")


def _check_chips(value: list[Any]) -> list[Any]:
    """Each entry: {"driver", "address": "0x76", "sampleIntervalSeconds"?, options...}.
    Validates only; the entries stay as written (addresses are parsed where they are used)."""
    seen = set()
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("driver") not in DRIVERS:
            raise ValueError(f"entry {i}: needs 'driver' out of {list(DRIVERS)}")
        try:
            address = chip_address(entry)
        except (KeyError, ValueError):
            raise ValueError(f"entry {i}: address {entry.get('address')!r} is no number") from None
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"entry {i}: address 0x{address:02x} outside 0x03..0x77")
        if address in seen:
            raise ValueError(f"entry {i}: address 0x{address:02x} configured twice")
        seen.add(address)
        _interval_ok(entry, i)
        try:
            make_driver(entry, bus=None)  # type: ignore[arg-type]  # options only; no bus I/O
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"entry {i} ({entry['driver']}): {exc}") from None
    return value


def _check_gpio(value: list[Any]) -> list[Any]:
    """Each entry: {"kind": pulse|contact|button, "pin": "GPIO17", "name": "flow1"}."""
    seen = set()
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("kind") not in GPIO_KINDS:
            raise ValueError(f"entry {i}: needs 'kind' out of {list(GPIO_KINDS)}")
        for field in ("pin", "name"):
            if not isinstance(entry.get(field), str) or not _NAME_RE.match(entry[field]):
                raise ValueError(f"entry {i}: '{field}' must be a name like GPIO17 / flow1")
        if entry["pin"] in seen:
            raise ValueError(f"entry {i}: pin {entry['pin']} configured twice")
        seen.add(entry["pin"])
        _interval_ok(entry, i)
    return value


SPEC = Spec(
    *LOG_KEYS,
    Key(
        "i2cBus", int, 1, "I2C adapter number (FLOORLINE_I2C_BUS=sim overrides it)", min=0, max=255
    ),
    Key(
        "sampleIntervalSeconds",
        float,
        1.0,
        "default time between readings of a chip",
        min=0.05,
        max=86400,
    ),
    Key(
        "chips",
        list,
        [{"driver": "bme280", "address": "0x76"}],
        "the chips on the bus: {driver, address (hex text), sampleIntervalSeconds?, options...}",
        check=_check_chips,
    ),
    Key(
        "gpioInputs",
        list,
        [],
        "pulse counters, door contacts, buttons: "
        "{kind (pulse, contact, button), pin (e.g. GPIO17), name, sampleIntervalSeconds?}",
        check=_check_gpio,
    ),
    Key("logBatchMaxRecords", int, 100, "readings per log transaction at most", min=1, max=500),
    Key(
        "logBatchMaxSeconds",
        float,
        0.1,
        "longest a reading waits in memory before commit",
        min=0.0,
        max=600,
    ),
    Key(
        "healthIntervalSeconds",
        float,
        60.0,
        "period of the per-chip statistics record",
        min=0.1,
        max=86400,
    ),
    Key("publishLive", bool, True, "publish live values on local pub/sub (best effort)"),
    Key(
        "reinitIntervalSeconds",
        float,
        5.0,
        "how often a faulty chip is initialised again",
        min=0.1,
        max=3600,
    ),
    Key("retryAttempts", int, 3, "tries per bus operation before a chip is faulty", min=1, max=10),
    Key(
        "retryBackoffSeconds",
        float,
        0.005,
        "first retry delay; doubles per retry",
        min=0.0,
        max=1.0,
    ),
)
