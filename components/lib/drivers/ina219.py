"""TI INA219 current / bus-voltage / power monitor. Registers are big-endian 16-bit, so they
are read as 2-byte blocks rather than SMBus words (which are little-endian)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from components.core import battery
from components.lib.drivers.base import Driver, I2CBus, Sleep, to_signed16

ADDRESSES = tuple(range(0x40, 0x50))
REG_CONFIG = 0x00
REG_SHUNT = 0x01
REG_BUS = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05
CONFIG_RESET = 0x399F
SHUNT_LSB_V = 10e-6
BUS_LSB_V = 0.004
CALIBRATION_FACTOR = 0.04096
# 32 V range, ±320 mV shunt, 12-bit ADCs, shunt and bus continuous (the reset default).
DEFAULT_CONFIG = 0x399F


def calibration_value(current_lsb_a: float, shunt_ohm: float) -> int:
    cal = int(CALIBRATION_FACTOR / (current_lsb_a * shunt_ohm))
    if not 1 <= cal <= 0xFFFE:
        raise ValueError(f"calibration {cal} out of range for LSB {current_lsb_a} A, {shunt_ohm} Ω")
    return cal & 0xFFFE  # bit 0 is read-only zero


def current_lsb_for(max_expected_a: float) -> float:
    """The smallest 'round' LSB (1, 2 or 5 × 10^n A) that covers max_expected_a in 15 bits."""
    minimum = max_expected_a / 32767
    exponent = 10.0 ** int(f"{minimum:e}".split("e")[1])
    for step in (1, 2, 5, 10):
        if step * exponent >= minimum:
            return step * exponent
    raise AssertionError("unreachable")


def decode_bus(reg: int) -> tuple[float, bool, bool]:
    """(volts, conversion ready, math overflow) from the bus-voltage register."""
    return (reg >> 3) * BUS_LSB_V, bool(reg & 0x2), bool(reg & 0x1)


def decode_shunt_v(reg: int) -> float:
    return to_signed16(reg) * SHUNT_LSB_V


def decode_current_a(reg: int, current_lsb_a: float) -> float:
    return to_signed16(reg) * current_lsb_a


def decode_power_w(reg: int, current_lsb_a: float) -> float:
    return reg * 20 * current_lsb_a


@dataclass(frozen=True)
class Ina219Options:
    """An INA219's settings, checked (the driver's, and a `chips` entry's)."""

    shunt_ohm: float
    max_expected_a: float  # sets the current LSB: the smallest round one that covers it
    battery_cells: int  # lithium-ion cells in series on the bus; 0: no battery

    def __post_init__(self) -> None:
        if self.battery_cells < 0:
            raise ValueError(f"batteryCells must be >= 0, not {self.battery_cells}")
        if not self.shunt_ohm > 0:
            raise ValueError(f"shuntOhm must be > 0, not {self.shunt_ohm}")
        if not self.max_expected_a > 0:
            raise ValueError(f"maxExpectedAmps must be > 0, not {self.max_expected_a}")
        calibration_value(current_lsb_for(self.max_expected_a), self.shunt_ohm)


class Ina219(Driver):
    chip = "ina219"
    kind = "power"

    def __init__(
        self,
        bus: I2CBus,
        address: int = 0x40,
        sleep: Sleep = time.sleep,
        *,
        shunt_ohm: float = 0.1,
        max_expected_a: float = 2.0,
        current_lsb_a: float | None = None,
        battery_cells: int = 0,
    ) -> None:
        """`battery_cells`: the bus is a pack of that many lithium-ion cells in series (a
        battery-powered node): each reading adds `battery_pct`, estimated from the bus voltage
        (components/core/battery.py). 0: no battery."""
        super().__init__(bus, address, sleep)
        Ina219Options(shunt_ohm, max_expected_a, battery_cells)
        self.battery_cells = battery_cells
        self.shunt_ohm = shunt_ohm
        self.current_lsb_a = current_lsb_a or current_lsb_for(max_expected_a)
        self.calibration = calibration_value(self.current_lsb_a, shunt_ohm)

    def _read16(self, reg: int) -> int:
        hi, lo = self.bus.read_i2c_block_data(self.address, reg, 2)
        return hi << 8 | lo

    def _write16(self, reg: int, value: int) -> None:
        self.bus.write_i2c_block_data(self.address, reg, [value >> 8, value & 0xFF])

    def init(self) -> None:
        self._write16(REG_CONFIG, 0x8000)  # reset
        self._write16(REG_CONFIG, DEFAULT_CONFIG)
        self._write16(REG_CALIBRATION, self.calibration)

    def read(self) -> dict[str, Any]:
        # A power-on reset of the chip (brown-out) clears calibration: current would read 0.
        if self._read16(REG_CALIBRATION) != self.calibration:
            self._write16(REG_CALIBRATION, self.calibration)
        bus_v, _ready, overflow = decode_bus(self._read16(REG_BUS))
        out: dict[str, Any] = {
            "bus_voltage_v": bus_v,
            "shunt_voltage_v": decode_shunt_v(self._read16(REG_SHUNT)),
            "current_a": decode_current_a(self._read16(REG_CURRENT), self.current_lsb_a),
            "power_w": decode_power_w(self._read16(REG_POWER), self.current_lsb_a),
        }
        if overflow:
            out["overflow"] = True  # current or power beyond the calibrated range
        if self.battery_cells:
            out["battery_pct"] = round(battery.charge_pct(bus_v, self.battery_cells), 1)
        return out
