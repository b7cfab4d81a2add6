"""Analog Devices ADXL345 accelerometer: FIFO stream mode for vibration, full resolution.

Each FIFO entry is popped by its own 6-byte read from DATAX0; FIFO_STATUS says how many wait.
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from typing import Any

from components.lib.drivers.base import Driver, I2CBus, Sleep, WrongChip

ADDRESSES = (0x53, 0x1D)
REG_DEVID = 0x00
REG_BW_RATE = 0x2C
REG_POWER_CTL = 0x2D
REG_INT_SOURCE = 0x30
REG_DATA_FORMAT = 0x31
REG_DATAX0 = 0x32
REG_FIFO_CTL = 0x38
REG_FIFO_STATUS = 0x39
DEVID = 0xE5
POWER_MEASURE = 0x08
FULL_RES = 0x08
FIFO_STREAM = 0b10 << 6
FIFO_DEPTH = 32
INT_OVERRUN = 0x01
RANGE_CODE = {2: 0, 4: 1, 8: 2, 16: 3}
FULL_RES_G_PER_LSB = 0.0039  # typical scale factor at every range in full resolution
STANDARD_GRAVITY = 9.80665


def rate_code(rate_hz: float) -> int:
    """BW_RATE code for an output data rate: ODR = 3200 / 2**(15 - code)."""
    code = 15 - round(math.log2(3200 / rate_hz)) if rate_hz > 0 else 0
    if not 6 <= code <= 15 or 3200 / 2 ** (15 - code) != rate_hz:
        raise ValueError(f"{rate_hz} Hz is not an ADXL345 data rate (6.25 ... 3200 Hz)")
    return code


def g_per_lsb(range_g: int, full_res: bool) -> float:
    if full_res:
        return FULL_RES_G_PER_LSB
    return (2 * range_g) / 1024  # 10-bit output over the full range


def decode_sample(data: bytes, scale_g: float) -> tuple[float, float, float]:
    """(x, y, z) in g from DATAX0..DATAZ1 (little-endian signed 16-bit)."""
    x, y, z = struct.unpack("<hhh", bytes(data[:6]))
    return x * scale_g, y * scale_g, z * scale_g


def dominant_frequency(values: list[float], rate_hz: float) -> tuple[float, float]:
    """(frequency Hz, amplitude) of the strongest DFT line above DC over the window (a few
    hundred samples: cheap enough without numpy). Resolution rate/n. Each line's power comes
    from the Goertzel recurrence: the plain DFT's value with one multiply-add per sample
    instead of a cosine and a sine (a vibration reading twice a second on every device)."""
    n = len(values)
    if n < 4:
        return 0.0, 0.0
    mean = sum(values) / n
    centred = [v - mean for v in values]
    best_k, best_power = 0, 0.0
    for k in range(1, n // 2 + 1):
        coeff = 2 * math.cos(2 * math.pi * k / n)
        s1 = s2 = 0.0
        for v in centred:
            s1, s2 = v + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        if power > best_power:
            best_k, best_power = k, power
    return best_k * rate_hz / n, 2 * math.sqrt(max(best_power, 0.0)) / n


@dataclass(frozen=True, slots=True)
class VibrationSummary:
    samples: int
    rms_x_g: float
    rms_y_g: float
    rms_z_g: float
    peak_g: float

    @staticmethod
    def of(samples: list[tuple[float, float, float]]) -> VibrationSummary:
        """RMS per axis around the mean (gravity removed); peak magnitude of that AC part."""
        n = len(samples)
        if n == 0:
            return VibrationSummary(0, 0.0, 0.0, 0.0, 0.0)
        means = [sum(s[i] for s in samples) / n for i in range(3)]
        rms = [math.sqrt(sum((s[i] - means[i]) ** 2 for s in samples) / n) for i in range(3)]
        peak = max(math.sqrt(sum((s[i] - means[i]) ** 2 for i in range(3))) for s in samples)
        return VibrationSummary(n, rms[0], rms[1], rms[2], peak)


@dataclass(frozen=True)
class Adxl345Options:
    """An ADXL345's settings, checked (the driver's, and a `chips` entry's)."""

    rate_hz: float  # output data rate: 3200 / 2**n Hz
    range_g: int
    window_s: float  # one vibration summary per this much FIFO data

    def __post_init__(self) -> None:
        rate_code(self.rate_hz)
        if self.range_g not in RANGE_CODE:
            raise ValueError(f"range {self.range_g} g not in {sorted(RANGE_CODE)}")
        if not self.window_s > 0:
            raise ValueError(f"windowSeconds must be > 0, not {self.window_s}")


class Adxl345(Driver):
    chip = "adxl345"
    kind = "vib"

    def __init__(
        self,
        bus: I2CBus,
        address: int = 0x53,
        sleep: Sleep = time.sleep,
        *,
        rate_hz: float = 400,
        range_g: int = 16,
        watermark: int = 16,
        window_s: float = 0.25,
    ) -> None:
        super().__init__(bus, address, sleep)
        Adxl345Options(rate_hz, range_g, window_s)
        self.rate_code = rate_code(rate_hz)
        self.rate_hz = rate_hz
        self.range_g = range_g
        self.watermark = watermark
        self.scale_g = g_per_lsb(range_g, True)
        self.window_s = window_s
        self.overruns = 0

    def init(self) -> None:
        devid = self.bus.read_byte_data(self.address, REG_DEVID)
        if devid != DEVID:
            raise WrongChip(f"DEVID 0x{devid:02x} at 0x{self.address:02x} is no ADXL345", devid)
        a, w = self.address, self.bus.write_byte_data
        w(a, REG_POWER_CTL, 0)
        w(a, REG_DATA_FORMAT, FULL_RES | RANGE_CODE[self.range_g])
        w(a, REG_FIFO_CTL, 0)
        w(a, REG_BW_RATE, self.rate_code)
        w(a, REG_FIFO_CTL, FIFO_STREAM | (self.watermark & 0x1F))
        w(a, REG_POWER_CTL, POWER_MEASURE)

    def drain(self) -> list[tuple[float, float, float]]:
        """Every sample waiting in the FIFO, oldest first. Counts FIFO overruns seen."""
        a = self.address
        if self.bus.read_byte_data(a, REG_INT_SOURCE) & INT_OVERRUN:
            self.overruns += 1
        waiting = self.bus.read_byte_data(a, REG_FIFO_STATUS) & 0x3F
        out = []
        for _ in range(waiting):
            raw = self.bus.read_i2c_block_data(a, REG_DATAX0, 6)
            out.append(decode_sample(bytes(raw), self.scale_g))
        return out

    @property
    def read_seconds(self) -> float:
        return self.window_s

    def collect(self, window_s: float) -> list[tuple[float, float, float]]:
        """Samples over `window_s`, draining before the FIFO can fill."""
        samples: list[tuple[float, float, float]] = []
        fill_s = FIFO_DEPTH / self.rate_hz
        poll_s = min(window_s, fill_s / 2)
        wanted = round(window_s * self.rate_hz)
        while len(samples) < wanted:
            self.sleep(poll_s)
            samples += self.drain()
        return samples

    def read(self, window_s: float | None = None) -> dict[str, Any]:
        before = self.overruns
        samples = self.collect(window_s or self.window_s)
        summary = VibrationSummary.of(samples)
        # The spectrum of the strongest axis: the running frequency, or a fault harmonic.
        rms = (summary.rms_x_g, summary.rms_y_g, summary.rms_z_g)
        axis = rms.index(max(rms))
        dominant_hz, dominant_g = dominant_frequency([s[axis] for s in samples], self.rate_hz)
        return {
            "rate_hz": self.rate_hz,
            "samples": summary.samples,
            "rms_x_g": summary.rms_x_g,
            "rms_y_g": summary.rms_y_g,
            "rms_z_g": summary.rms_z_g,
            "peak_g": summary.peak_g,
            "dominant_hz": dominant_hz,
            "dominant_g": dominant_g,
            "overruns": self.overruns - before,
        }
