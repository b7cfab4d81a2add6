"""INA219 model: 16-bit big-endian pointer registers, reset, calibration-driven current and
power registers (integer truncation as in silicon), PGA clipping with the overflow flag."""

from __future__ import annotations

import math

from components.core.clock import Clock
from components.lib.drivers import ina219 as drv
from edge_sim.hardware.chips.base import I2CChip
from edge_sim.world.scenario import ChipWorld

PGA_LIMIT = {0: 4000, 1: 8000, 2: 16000, 3: 32000}  # shunt register counts (10 µV)


def s16(v: int) -> int:
    return v & 0xFFFF


class Ina219Model(I2CChip):
    chip = "ina219"

    def __init__(
        self,
        address: int = 0x40,
        world: ChipWorld | None = None,
        clock: Clock | None = None,
        *,
        shunt_ohm: float = 0.1,
    ) -> None:
        super().__init__(address, world, clock)
        self.shunt_ohm = shunt_ohm
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs = [drv.CONFIG_RESET, 0, 0, 0, 0, 0]
        self.pointer = 0

    def _measure(self) -> None:
        t = self.t_s()
        current = self.world.value("current_a", t)
        volts = self.world.value("bus_voltage_v", t)
        # A dropout is a disconnected load: nothing flows, nothing is measured.
        current = 0.0 if math.isnan(current) else current
        volts = 0.0 if math.isnan(volts) else volts
        pga = (self.regs[0] >> 11) & 3
        shunt = round(current * self.shunt_ohm / drv.SHUNT_LSB_V)
        overflow = abs(shunt) > PGA_LIMIT[pga]
        shunt = max(-PGA_LIMIT[pga], min(PGA_LIMIT[pga], shunt))
        bus_counts = max(0, min(8000 if self.regs[0] & 0x2000 else 4000, round(volts / 0.004)))
        self.regs[1] = s16(shunt)
        self.regs[2] = bus_counts << 3 | 0x2 | int(overflow)
        cal = self.regs[5]
        current_reg = int(shunt * cal / 4096)  # truncates toward zero
        self.regs[4] = s16(current_reg)
        self.regs[3] = s16(abs(int(current_reg * bus_counts / 5000)))

    def on_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] % 6
        if len(data) >= 3:
            value = data[1] << 8 | data[2]
            if self.pointer == 0:
                if value & 0x8000:
                    self.power_on_reset()
                    return
                self.regs[0] = value
            elif self.pointer == 5:
                self.regs[5] = value & 0xFFFE

    def on_read(self, n: int) -> bytes:
        if self.pointer in (1, 2, 3, 4):
            self._measure()
        value = self.regs[self.pointer]
        return (bytes([value >> 8, value & 0xFF]) * ((n + 1) // 2))[:n]
