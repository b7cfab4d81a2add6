"""The `sensors` component's configuration: keys, defaults, and the per-chip entries."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from components.core.config import Key, Spec
from components.sensors.drivers.ads1115 import Ads1115, Loop
from components.sensors.drivers.adxl345 import Adxl345
from components.sensors.drivers.base import Driver, I2CBus
from components.sensors.drivers.bme280 import Bme280
from components.sensors.drivers.ina219 import Ina219
from components.sensors.drivers.sht3x import Sht3x

CHIPS = ("bme280", "sht3x", "adxl345", "ina219", "ads1115")


def _check_sensors(value: list[Any]) -> list[dict[str, Any]]:
    """Each entry: {"chip": ..., "address": "0x76", optional chip options}."""
    out, seen = [], set()
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("chip") not in CHIPS:
            raise ValueError(f"entry {i}: needs 'chip' out of {list(CHIPS)}")
        try:
            address = int(str(entry.get("address")), 0)
        except ValueError:
            raise ValueError(f"entry {i}: address {entry.get('address')!r} is no number") from None
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"entry {i}: address 0x{address:02x} outside 0x03..0x77")
        if address in seen:
            raise ValueError(f"entry {i}: address 0x{address:02x} configured twice")
        seen.add(address)
        interval = entry.get("intervalSeconds")
        if interval is not None and (isinstance(interval, bool) or
                                     not isinstance(interval, int | float) or interval < 0.05):
            raise ValueError(f"entry {i}: intervalSeconds must be a number >= 0.05")
        out.append({**entry, "address": address})
    return out


SPEC = Spec(
    Key("deviceName", str, os.environ.get("AWS_IOT_THING_NAME", "floorline-dev"),
        "thing name stamped on every record"),
    Key("logPath", str, "/var/lib/floorline/log.db", "the durable log shared by the components"),
    Key("logBudgetBytes", int, 256 << 20, "byte budget of the log", min=1 << 20),
    Key("logFreeFloorBytes", int, 64 << 20, "free disk the log always leaves", min=0),
    Key("i2cBus", str, "1", "I2C bus number, or 'sim' (FLOORLINE_I2C_BUS overrides)"),
    Key("sampleIntervalSeconds", float, 10.0, "time between readings of each sensor",
        min=0.05, max=86400),
    Key("batchSize", int, 10, "readings per log transaction", min=1, max=500),
    Key("batchMaxSeconds", float, 30.0, "longest a reading waits in memory before commit",
        min=0.0, max=600),
    Key("retryAttempts", int, 3, "tries per bus operation before the sensor is faulty",
        min=1, max=10),
    Key("retryBackoffSeconds", float, 0.005, "first retry delay; doubles per retry",
        min=0.0, max=1.0),
    Key("reinitIntervalSeconds", float, 5.0, "how often a faulty sensor is re-initialised",
        min=0.1, max=3600),
    Key("vibrationWindowSeconds", float, 0.5, "ADXL345 samples summarised per reading",
        min=0.05, max=10),
    Key("publishLive", bool, True, "publish live values on local pub/sub (best effort)"),
    Key("liveTopicPrefix", str, "floorline/live", "local pub/sub topic prefix for live values"),
    Key("sensors", list, [], "the chips on the bus", check=_check_sensors),
)


def make_driver(entry: dict[str, Any], bus: I2CBus,
                sleep: Callable[[float], None] = time.sleep, *,
                vibration_window_s: float = 0.5) -> Driver:
    chip, a = entry["chip"], entry["address"]
    if chip == "bme280":
        return Bme280(bus, a, sleep, oversampling=tuple(entry.get("oversampling", (1, 1, 1))),
                      mode=entry.get("mode", "forced"), iir_filter=int(entry.get("iirFilter", 0)),
                      standby_ms=float(entry.get("standbyMs", 62.5)))
    if chip == "sht3x":
        return Sht3x(bus, a, sleep, repeatability=entry.get("repeatability", "high"))
    if chip == "adxl345":
        return Adxl345(bus, a, sleep, rate_hz=float(entry.get("rateHz", 400)),
                       range_g=int(entry.get("rangeG", 16)),
                       window_s=float(entry.get("windowSeconds", vibration_window_s)))
    if chip == "ina219":
        return Ina219(bus, a, sleep, shunt_ohm=float(entry.get("shuntOhm", 0.1)),
                      max_expected_a=float(entry.get("maxExpectedAmps", 2.0)))
    if chip == "ads1115":
        loop = Loop(float(entry.get("shuntOhm", 150.0)), float(entry.get("low", 0.0)),
                    float(entry.get("high", 100.0)), str(entry.get("unit", "")))
        return Ads1115(bus, a, sleep, channel=int(entry.get("channel", 0)),
                       fsr_v=float(entry.get("fullScaleVolts", 4.096)),
                       rate_sps=int(entry.get("rateSps", 128)), loop=loop)
    raise ValueError(f"no driver for chip {chip!r}")
