"""ADS1115 model: pointer registers, single-shot conversions that take 1/DR seconds (OS bit
reads 0 meanwhile), continuous mode, input multiplexer, PGA clipping."""

from __future__ import annotations

import math

from components.core.clock import Clock
from components.lib.drivers import ads1115 as drv
from edge_sim.hardware.chips.base import I2CChip
from edge_sim.world.scenario import ChipWorld

DIFFERENTIAL = {0: (0, 1), 1: (0, 3), 2: (1, 3), 3: (2, 3)}


class Ads1115Model(I2CChip):
    chip = "ads1115"

    def __init__(
        self, address: int = 0x48, world: ChipWorld | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(address, world, clock)
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs = [0x0000, 0x8583, 0x8000, 0x7FFF]
        self.pointer = 0
        self.done_at_s = -1.0

    def _input_v(self, mux: int, t_s: float) -> float:
        def ain(i: int) -> float:
            return self.world.value(f"ain{i}_v", t_s)

        if mux >= 4:
            return ain(mux - 4)
        plus, minus = DIFFERENTIAL[mux]
        return ain(plus) - ain(minus)

    def _convert(self, t_s: float) -> None:
        config = self.regs[1]
        volts = self._input_v((config >> 12) & 7, t_s)
        if math.isnan(volts):
            volts = 0.0  # a dropout is an open input: a broken 4-20 mA loop reads 0 mA
        fsr = drv.PGA_FSR_V[min((config >> 9) & 7, 5)]
        counts = max(-32768, min(32767, round(volts / fsr * 32768)))
        self.regs[0] = counts & 0xFFFF

    def _period_s(self) -> float:
        return 1.0 / drv.DATA_RATES[(self.regs[1] >> 5) & 7]

    def on_write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 3
        if len(data) >= 3 and self.pointer:
            value = data[1] << 8 | data[2]
            if self.pointer == 1:
                start = value & drv.OS_START
                self.regs[1] = value & 0x7FFF
                if start or not value & drv.MODE_SINGLE:
                    self.done_at_s = self.t_s() + self._period_s()
            else:
                self.regs[self.pointer] = value

    def on_read(self, n: int) -> bytes:
        now = self.t_s()
        single = self.regs[1] & drv.MODE_SINGLE
        if self.done_at_s >= 0 and now >= self.done_at_s:
            self._convert(self.done_at_s)
            self.done_at_s = -1.0 if single else self.done_at_s + self._period_s()
        value = self.regs[self.pointer]
        if self.pointer == 1:
            busy = self.done_at_s >= 0 and single
            value = value | (0 if busy else drv.OS_START)
        return (bytes([value >> 8, value & 0xFF]) * ((n + 1) // 2))[:n]
