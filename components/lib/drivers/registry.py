"""Drivers by the name a `chips` entry gives them: the Sensors component builds its chips from
its configuration here, and the Console's `i2c scan` reads the chips it finds.

A chip is a `Chip`: its driver, address, own sample interval and the driver's options, parsed
and checked when the configuration arrives; `make_driver` only builds the driver on a bus."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, assert_never

from components.lib.drivers.ads1115 import Ads1115, Ads1115Options, Loop
from components.lib.drivers.adxl345 import Adxl345, Adxl345Options
from components.lib.drivers.base import Driver, I2CBus
from components.lib.drivers.bme280 import Bme280, Bme280Options
from components.lib.drivers.ina219 import Ina219, Ina219Options
from components.lib.drivers.sht3x import Sht3x, Sht3xOptions

DriverOptions: TypeAlias = (
    Bme280Options | Sht3xOptions | Adxl345Options | Ina219Options | Ads1115Options
)

# ------------------------------------------------------------- a `chips` entry's options (JSON)
# Numbers may come as text: nucleus lite gives values read from YAML back as strings.


def _float(key: str, value: Any) -> float:
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError(f"{key} {value!r} is not a number")


def _int(key: str, value: Any) -> int:
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{key} {value!r} is not an integer")


def _bme280(entry: Mapping[str, Any]) -> Bme280Options:
    oversampling = entry.get("oversampling", [1, 1, 1])
    if not isinstance(oversampling, list | tuple) or len(oversampling) != 3:
        raise ValueError(
            f"oversampling needs 3 factors (temperature, pressure, humidity), got {oversampling!r}"
        )
    t, p, h = (_int("oversampling", factor) for factor in oversampling)
    return Bme280Options(
        oversampling=(t, p, h),
        mode=entry.get("mode", "forced"),
        iir_filter=_int("iirFilter", entry.get("iirFilter", 0)),
        standby_ms=_float("standbyMs", entry.get("standbyMs", 62.5)),
    )


def _sht3x(entry: Mapping[str, Any]) -> Sht3xOptions:
    return Sht3xOptions(repeatability=entry.get("repeatability", "high"))


def _adxl345(entry: Mapping[str, Any]) -> Adxl345Options:
    return Adxl345Options(
        rate_hz=_float("rateHz", entry.get("rateHz", 400)),
        range_g=_int("rangeG", entry.get("rangeG", 16)),
        window_s=_float("windowSeconds", entry.get("windowSeconds", 0.5)),
    )


def _ina219(entry: Mapping[str, Any]) -> Ina219Options:
    return Ina219Options(
        shunt_ohm=_float("shuntOhm", entry.get("shuntOhm", 0.1)),
        max_expected_a=_float("maxExpectedAmps", entry.get("maxExpectedAmps", 2.0)),
        battery_cells=_int("batteryCells", entry.get("batteryCells", 0)),
    )


def _ads1115(entry: Mapping[str, Any]) -> Ads1115Options:
    return Ads1115Options(
        channel=_int("channel", entry.get("channel", 0)),
        fsr_v=_float("fullScaleVolts", entry.get("fullScaleVolts", 4.096)),
        rate_sps=_int("rateSps", entry.get("rateSps", 128)),
        loop=Loop(
            _float("shuntOhm", entry.get("shuntOhm", 150.0)),
            _float("low", entry.get("low", 0.0)),
            _float("high", entry.get("high", 100.0)),
            str(entry.get("unit", "")),
        ),
    )


_OPTIONS: dict[str, tuple[type, Callable[[Mapping[str, Any]], DriverOptions]]] = {
    "bme280": (Bme280Options, _bme280),
    "sht3x": (Sht3xOptions, _sht3x),
    "adxl345": (Adxl345Options, _adxl345),
    "ina219": (Ina219Options, _ina219),
    "ads1115": (Ads1115Options, _ads1115),
}
DRIVERS = tuple(_OPTIONS)


def parse_options(driver: str, entry: Mapping[str, Any]) -> DriverOptions:
    """The options of a `chips` entry for `driver` (camelCase keys, as in the recipe; keys the
    driver does not know are ignored), checked, the driver's defaults for those left out.
    Raises ValueError naming the option."""
    if driver not in _OPTIONS:
        raise ValueError(f"no driver named {driver!r}")
    return _OPTIONS[driver][1](entry)


@dataclass(frozen=True)
class Chip:
    """One chip on the bus, parsed from its `chips` entry: the driver, the address, its own
    sample interval (None: the component's default) and the driver's options, checked."""

    driver: str
    address: int
    sample_interval_s: float | None
    options: DriverOptions

    def __post_init__(self) -> None:
        if self.driver not in _OPTIONS:
            raise ValueError(f"no driver named {self.driver!r}")
        if not isinstance(self.options, _OPTIONS[self.driver][0]):
            raise TypeError(f"{type(self.options).__name__} are not {self.driver} options")

    @classmethod
    def default(cls, driver: str, address: int) -> Chip:
        """The chip with the driver's default options (e.g. one a bus scan found)."""
        return cls(driver, address, None, parse_options(driver, {}))

    def interval_s(self, default: float) -> float:
        """Time between readings: its own, else the component's `default`."""
        return default if self.sample_interval_s is None else self.sample_interval_s


def make_driver(chip: Chip, bus: I2CBus, sleep: Callable[[float], None] = time.sleep) -> Driver:
    """The driver of `chip` on `bus`, set up with the chip's options."""
    o, a = chip.options, chip.address
    if isinstance(o, Bme280Options):
        return Bme280(
            bus,
            a,
            sleep,
            oversampling=o.oversampling,
            mode=o.mode,
            iir_filter=o.iir_filter,
            standby_ms=o.standby_ms,
        )
    if isinstance(o, Sht3xOptions):
        return Sht3x(bus, a, sleep, repeatability=o.repeatability)
    if isinstance(o, Adxl345Options):
        return Adxl345(bus, a, sleep, rate_hz=o.rate_hz, range_g=o.range_g, window_s=o.window_s)
    if isinstance(o, Ina219Options):
        return Ina219(
            bus,
            a,
            sleep,
            shunt_ohm=o.shunt_ohm,
            max_expected_a=o.max_expected_a,
            battery_cells=o.battery_cells,
        )
    if isinstance(o, Ads1115Options):
        return Ads1115(
            bus, a, sleep, channel=o.channel, fsr_v=o.fsr_v, rate_sps=o.rate_sps, loop=o.loop
        )
    assert_never(o)
