"""Drivers by the name a `chips` entry gives them: the Sensors component builds its chips from
its configuration here, and the Console's `i2c scan` reads the chips it finds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from components.lib.drivers.ads1115 import Ads1115, Loop
from components.lib.drivers.adxl345 import Adxl345
from components.lib.drivers.base import Driver, I2CBus
from components.lib.drivers.bme280 import Bme280
from components.lib.drivers.ina219 import Ina219
from components.lib.drivers.sht3x import Sht3x

DRIVERS = ("bme280", "sht3x", "adxl345", "ina219", "ads1115")


def chip_address(entry: dict[str, Any]) -> int:
    return int(str(entry["address"]), 0)


def make_driver(
    entry: dict[str, Any], bus: I2CBus, sleep: Callable[[float], None] = time.sleep
) -> Driver:
    """The driver a `chips` entry names, with its options (camelCase, as in the recipe)."""
    name, a = entry["driver"], chip_address(entry)
    if name == "bme280":
        return Bme280(
            bus,
            a,
            sleep,
            oversampling=tuple(entry.get("oversampling", (1, 1, 1))),
            mode=entry.get("mode", "forced"),
            iir_filter=int(entry.get("iirFilter", 0)),
            standby_ms=float(entry.get("standbyMs", 62.5)),
        )
    if name == "sht3x":
        return Sht3x(bus, a, sleep, repeatability=entry.get("repeatability", "high"))
    if name == "adxl345":
        return Adxl345(
            bus,
            a,
            sleep,
            rate_hz=float(entry.get("rateHz", 400)),
            range_g=int(entry.get("rangeG", 16)),
            window_s=float(entry.get("windowSeconds", 0.5)),
        )
    if name == "ina219":
        return Ina219(
            bus,
            a,
            sleep,
            shunt_ohm=float(entry.get("shuntOhm", 0.1)),
            max_expected_a=float(entry.get("maxExpectedAmps", 2.0)),
            battery_cells=int(entry.get("batteryCells", 0)),
        )
    if name == "ads1115":
        loop = Loop(
            float(entry.get("shuntOhm", 150.0)),
            float(entry.get("low", 0.0)),
            float(entry.get("high", 100.0)),
            str(entry.get("unit", "")),
        )
        return Ads1115(
            bus,
            a,
            sleep,
            channel=int(entry.get("channel", 0)),
            fsr_v=float(entry.get("fullScaleVolts", 4.096)),
            rate_sps=int(entry.get("rateSps", 128)),
            loop=loop,
        )
    raise ValueError(f"no driver named {name!r}")
