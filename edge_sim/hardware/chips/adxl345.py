"""ADXL345 model: register file, output data rate timing, FIFO (bypass, FIFO, stream) of 32
entries with overrun, full-resolution and 10-bit scaling, one FIFO pop per data read."""

from __future__ import annotations

import math
import struct

from components.core.clock import Clock
from components.lib.drivers import adxl345 as drv
from edge_sim.hardware.chips.base import I2CChip
from edge_sim.world.scenario import ChipWorld

AXES = ("accel_x_g", "accel_y_g", "accel_z_g")
RESET_REGS = {drv.REG_DEVID: drv.DEVID, drv.REG_BW_RATE: 0x0A, drv.REG_INT_SOURCE: 0x02}


def counts_for(g: float, data_format: int) -> int:
    range_g = 2 << (data_format & 3)
    if data_format & drv.FULL_RES:
        limit = 256 * range_g // 2  # 10..13 bits
        counts = round(g / drv.FULL_RES_G_PER_LSB)
    else:
        limit = 512
        counts = round(g * 1024 / (2 * range_g))
    return max(-limit, min(limit - 1, counts))


class Adxl345Model(I2CChip):
    chip = "adxl345"

    def __init__(
        self, address: int = 0x53, world: ChipWorld | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(address, world, clock)
        self.overruns = 0
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs = bytearray(64)
        for reg, value in RESET_REGS.items():
            self.regs[reg] = value
        self.pointer = 0
        self.fifo: list[bytes] = []
        self.latest = bytes(6)
        self.next_tick = 0  # index of the next sample to produce
        self.measure_since_s: float | None = None
        self._odr_hz = self.odr_hz()

    def odr_hz(self) -> float:
        return 3200.0 / 2 ** (15 - (self.regs[drv.REG_BW_RATE] & 0x0F))

    def _sample(self, t_s: float) -> bytes:
        fmt = self.regs[drv.REG_DATA_FORMAT]
        values = [self.world.value(axis, t_s) for axis in AXES]
        counts = [0 if math.isnan(v) else counts_for(v, fmt) for v in values]
        return struct.pack("<hhh", *counts)

    def _advance(self) -> None:
        # Runs on every bus transaction (two per FIFO entry read): the common case, nothing
        # new since the last one, returns after one clock read.
        if self.measure_since_s is None:
            return
        odr = self._odr_hz
        due = math.floor((self.t_s() - self.measure_since_s) * odr)  # samples completed
        if due <= self.next_tick:
            return
        mode = self.regs[drv.REG_FIFO_CTL] >> 6
        # Only the last 33 samples can still be observed; older ones overflowed the FIFO.
        first = max(self.next_tick, due - drv.FIFO_DEPTH - 1)
        if mode and first > self.next_tick:
            self._overrun()
        for k in range(first, due):
            sample = self._sample(self.measure_since_s + (k + 1) / odr)
            self.latest = sample
            if mode == 0:
                continue
            if len(self.fifo) >= drv.FIFO_DEPTH:
                if mode == 1:  # FIFO mode stops collecting when full
                    self._overrun()
                    break
                self.fifo.pop(0)
                self._overrun()
            self.fifo.append(sample)
        self.next_tick = due

    def _overrun(self) -> None:
        self.regs[drv.REG_INT_SOURCE] |= drv.INT_OVERRUN
        self.overruns += 1

    def on_write(self, data: bytes) -> None:
        if not data:
            return
        self._advance()
        self.pointer = data[0] & 0x3F
        for i, value in enumerate(data[1:]):  # multi-byte writes auto-increment
            self._write_reg((self.pointer + i) & 0x3F, value)

    def _write_reg(self, reg: int, value: int) -> None:
        if reg in (drv.REG_DEVID, drv.REG_INT_SOURCE, drv.REG_FIFO_STATUS) or 0x32 <= reg <= 0x37:
            return  # read-only
        old = self.regs[reg]
        self.regs[reg] = value
        if reg == drv.REG_POWER_CTL:
            if value & drv.POWER_MEASURE and not old & drv.POWER_MEASURE:
                self.measure_since_s = self.t_s()
                self.next_tick = 0
            elif not value & drv.POWER_MEASURE:
                self.measure_since_s = None
        elif reg == drv.REG_FIFO_CTL and value >> 6 == 0:
            self.fifo.clear()
        elif reg == drv.REG_BW_RATE:
            self._odr_hz = self.odr_hz()
            if self.measure_since_s is not None:
                self.measure_since_s, self.next_tick = self.t_s(), 0

    def on_read(self, n: int) -> bytes:
        self._advance()
        mode = self.regs[drv.REG_FIFO_CTL] >> 6
        if self.pointer == 0x32 and n == 6:  # DATAX0..DATAZ1, what a FIFO drain reads
            self.pointer = 0x38
            return self.fifo.pop(0) if mode and self.fifo else self.latest
        head = self.fifo[0] if mode and self.fifo else self.latest
        out = bytearray()
        for i in range(n):
            reg = (self.pointer + i) & 0x3F
            if 0x32 <= reg <= 0x37:
                out.append(head[reg - 0x32])
            elif reg == drv.REG_FIFO_STATUS:
                out.append(min(len(self.fifo), 33) & 0x3F)
            elif reg == drv.REG_INT_SOURCE:
                ready = 0x80 if (self.fifo or self.measure_since_s is not None) else 0
                wm = 0x02 if len(self.fifo) > (self.regs[drv.REG_FIFO_CTL] & 0x1F) else 0
                out.append(self.regs[reg] | ready | wm)
                self.regs[reg] &= ~drv.INT_OVERRUN & 0xFF  # reading the source clears it
            else:
                out.append(self.regs[reg])
        if mode and self.fifo and self.pointer <= 0x37 and self.pointer + n > 0x32:
            self.fifo.pop(0)  # a data read pops one FIFO entry
        self.pointer = (self.pointer + n) & 0x3F
        return bytes(out)
