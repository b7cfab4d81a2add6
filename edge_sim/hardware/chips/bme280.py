"""BME280 / BMP280 register model: calibration NVM, ctrl_hum latch, forced and normal mode with
datasheet measurement timing, IIR filter, skipped channels, soft reset, (reg, data) pair writes."""

from __future__ import annotations

import math
import struct

from components.core.clock import Clock
from components.lib.drivers import bme280 as drv
from edge_sim.hardware.chips.base import I2CChip
from edge_sim.world.scenario import ChipWorld

# A realistic chip's trimming values (T1..T3, P1..P9, H1..H6).
DEFAULT_CAL = drv.Calibration(
    28417,
    26721,
    50,
    38042,
    -10559,
    3024,
    8726,
    -185,
    -7,
    9900,
    -10230,
    4285,
    75,
    360,
    0,
    325,
    50,
    30,
)
OS_FACTOR = (0, 1, 2, 4, 8, 16, 16, 16)
STANDBY_MS = (0.5, 62.5, 125, 250, 500, 1000, 10, 20)
FILTER_COEFF = (1, 2, 4, 8, 16, 16, 16, 16)


def calibration_bytes(cal: drv.Calibration) -> tuple[bytes, bytes]:
    """(0x88..0xA1, 0xE1..0xE7) images of a calibration."""
    tp = struct.pack(
        "<HhhHhhhhhhhh",
        cal.t1,
        cal.t2,
        cal.t3,
        cal.p1,
        cal.p2,
        cal.p3,
        cal.p4,
        cal.p5,
        cal.p6,
        cal.p7,
        cal.p8,
        cal.p9,
    ) + bytes([0, cal.h1])
    e4 = (cal.h4 >> 4) & 0xFF
    e5 = (cal.h4 & 0x0F) | ((cal.h5 & 0x0F) << 4)
    e6 = (cal.h5 >> 4) & 0xFF
    h = struct.pack("<h", cal.h2) + bytes([cal.h3 & 0xFF, e4, e5, e6, cal.h6 & 0xFF])
    return tp, h


def _bisect(f, target: float, lo: int, hi: int, increasing: bool) -> int:
    """The integer x in [lo, hi] whose f(x) is closest to target, f monotonic."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


def raw_for(cal: drv.Calibration, t_c: float, p_pa: float, h_pct: float) -> tuple[int, int, int]:
    """(adc_P, adc_T, adc_H) that the compensation turns back into the given values."""
    adc_t = _bisect(lambda x: drv.t_fine_and_celsius(cal, x)[1], t_c, 0, (1 << 20) - 1, True)
    t_fine = drv.t_fine_and_celsius(cal, adc_t)[0]
    adc_p = _bisect(lambda x: drv.pressure_pa(cal, t_fine, x) or 0.0, p_pa, 0, (1 << 20) - 1, False)
    adc_h = _bisect(lambda x: drv.humidity_pct(cal, t_fine, x), h_pct, 0, 0xFFFF, True)
    return adc_p, adc_t, adc_h


class Bme280Model(I2CChip):
    chip = "bme280"

    def __init__(
        self,
        address: int = 0x76,
        world: ChipWorld | None = None,
        clock: Clock | None = None,
        *,
        chip_id: int = drv.CHIP_ID_BME280,
        calibration: drv.Calibration = DEFAULT_CAL,
    ) -> None:
        super().__init__(address, world, clock)
        self.chip_id = chip_id
        self.has_humidity = chip_id == drv.CHIP_ID_BME280
        self.cal = calibration
        self.regs = bytearray(256)
        self.pointer = 0
        self.conversions = 0
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.regs[:] = bytes(256)
        tp, h = calibration_bytes(self.cal)
        self.regs[0x88 : 0x88 + 26] = tp
        if self.has_humidity:
            self.regs[0xE1 : 0xE1 + 7] = h
            self.regs[0xE8] = drv.calibration_crc(tp + h)
        self.regs[drv.REG_ID] = self.chip_id
        self.regs[0xF7:0xFF] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])
        self.hum_latched = 0
        self.meas_end_s = -1.0
        self.normal_since_s: float | None = None
        self.filtered: tuple[float, float] | None = None
        self.nvm_ready_s = self.t_s() + 0.0005

    # -- timing --------------------------------------------------------------------------
    def _os(self) -> tuple[int, int, int]:
        meas = self.regs[drv.REG_CTRL_MEAS]
        os_h = OS_FACTOR[self.hum_latched & 7] if self.has_humidity else 0
        return OS_FACTOR[meas >> 5], OS_FACTOR[(meas >> 2) & 7], os_h

    def _meas_s(self) -> float:
        return drv.measurement_time_ms(*self._os()) / 1e3

    def _update(self) -> None:
        """Bring the data registers up to now (conversions completed since the last access)."""
        now = self.t_s()
        mode = self.regs[drv.REG_CTRL_MEAS] & 3
        if mode == drv.MODE_NORMAL and self.normal_since_s is not None:
            period = self._meas_s() + STANDBY_MS[self.regs[drv.REG_CONFIG] >> 5] / 1e3
            done = math.floor((now - self.normal_since_s - self._meas_s()) / period) + 1
            # Every conversion feeds the IIR filter; after 64 the older ones no longer matter.
            for k in range(max(self.conversions, done - 64), done):
                self._convert(self.normal_since_s + self._meas_s() + k * period)
            self.conversions = max(self.conversions, done)
        elif self.meas_end_s >= 0 and now >= self.meas_end_s:
            self._convert(self.meas_end_s)
            self.meas_end_s = -1.0
            self.regs[drv.REG_CTRL_MEAS] &= ~3 & 0xFF  # forced mode falls back to sleep

    def _convert(self, t_s: float) -> None:
        v = self.world.values(t_s)
        t_c = v.get("temperature_c", 20.0)
        p_pa = v.get("pressure_pa", 101325.0)
        h_pct = v.get("humidity_pct", 50.0)
        if any(math.isnan(x) for x in (t_c, p_pa, h_pct)):
            # A dropout: the conversion yields nothing, the data registers read reset values.
            self.regs[0xF7:0xFF] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])
            return
        adc_p, adc_t, adc_h = raw_for(self.cal, t_c, p_pa, h_pct)
        coeff = FILTER_COEFF[(self.regs[drv.REG_CONFIG] >> 2) & 7]
        if coeff > 1 and self.filtered is not None:  # IIR applies to T and P only
            ft, fp = self.filtered
            adc_t = round((ft * (coeff - 1) + adc_t) / coeff)
            adc_p = round((fp * (coeff - 1) + adc_p) / coeff)
        self.filtered = (adc_t, adc_p)
        os_t, os_p, os_h = self._os()
        adc_t = adc_t if os_t else drv.SKIPPED_TP
        adc_p = adc_p if os_p else drv.SKIPPED_TP
        adc_h = adc_h if os_h else drv.SKIPPED_H
        self.regs[0xF7:0xFA] = bytes([adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4])
        self.regs[0xFA:0xFD] = bytes([adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4])
        if self.has_humidity:
            self.regs[0xFD:0xFF] = bytes([adc_h >> 8, adc_h & 0xFF])

    # -- wire ----------------------------------------------------------------------------
    def on_write(self, data: bytes) -> None:
        if not data:
            return  # a probe
        self.pointer = data[0]
        # Writes are (register, value) pairs with no auto-increment (datasheet §6.2.1).
        pairs = [(data[0], data[1])] if len(data) >= 2 else []
        pairs += list(zip(data[2::2], data[3::2], strict=False))
        for reg, value in pairs:
            self._write_reg(reg, value)

    def _write_reg(self, reg: int, value: int) -> None:
        self._update()
        if reg == drv.REG_RESET:
            if value == drv.RESET_COMMAND:
                self.power_on_reset()
        elif reg == drv.REG_CTRL_HUM:
            self.regs[reg] = value & 0x07  # latched only by the next ctrl_meas write
        elif reg == drv.REG_CTRL_MEAS:
            self.hum_latched = self.regs[drv.REG_CTRL_HUM]
            self.regs[reg] = value
            mode = value & 3
            if mode in (1, 2):
                self.meas_end_s = self.t_s() + self._meas_s()
                self.normal_since_s = None
            elif mode == drv.MODE_NORMAL:
                self.normal_since_s = self.t_s()
                self.conversions = 0
            else:
                self.normal_since_s = None
        elif reg == drv.REG_CONFIG:
            if self.regs[drv.REG_CTRL_MEAS] & 3 != drv.MODE_NORMAL:  # ignored in normal mode
                self.regs[reg] = value & 0xFD
        # Every other register is read-only.

    def on_read(self, n: int) -> bytes:
        self._update()
        status = 0
        if self.meas_end_s >= 0 or self._normal_measuring():
            status |= drv.STATUS_MEASURING
        if self.t_s() < self.nvm_ready_s:
            status |= drv.STATUS_IM_UPDATE
        self.regs[drv.REG_STATUS] = status
        out = bytes(self.regs[(self.pointer + i) & 0xFF] for i in range(n))
        self.pointer = (self.pointer + n) & 0xFF
        return out

    def _normal_measuring(self) -> bool:
        if self.regs[drv.REG_CTRL_MEAS] & 3 != drv.MODE_NORMAL or self.normal_since_s is None:
            return False
        period = self._meas_s() + STANDBY_MS[self.regs[drv.REG_CONFIG] >> 5] / 1e3
        return (self.t_s() - self.normal_since_s) % period < self._meas_s()
