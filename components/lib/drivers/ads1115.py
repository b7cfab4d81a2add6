"""TI ADS1115 16-bit ADC, used for 4–20 mA current loops across a precision shunt.

A loop current below 3.6 mA or above 21 mA is a wire or sensor fault (NAMUR NE43).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from components.lib.drivers.base import Driver, I2CBus, NotReady, SensorError, Sleep, to_signed16

ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)
REG_CONVERSION = 0x00
REG_CONFIG = 0x01
OS_START = 0x8000
MODE_SINGLE = 0x0100
COMP_DISABLE = 0x0003
PGA_FSR_V = {0: 6.144, 1: 4.096, 2: 2.048, 3: 1.024, 4: 0.512, 5: 0.256}
DATA_RATES = (8, 16, 32, 64, 128, 250, 475, 860)
# mux code: 0-3 differential pairs, 4-7 single-ended A0..A3 against GND.
SINGLE_ENDED_MUX = {0: 4, 1: 5, 2: 6, 3: 7}
NAMUR_LOW_MA = 3.6
NAMUR_HIGH_MA = 21.0


class LoopFault(SensorError):
    """Loop current outside NAMUR NE43 limits: a broken wire, a short or a failed sensor."""


def config_word(channel: int, fsr_v: float, rate_sps: int) -> int:
    pga = next((k for k, v in PGA_FSR_V.items() if v == fsr_v), None)
    if pga is None or rate_sps not in DATA_RATES or channel not in SINGLE_ENDED_MUX:
        raise ValueError(f"bad ADS1115 setting channel={channel} fsr={fsr_v} rate={rate_sps}")
    return (
        OS_START
        | SINGLE_ENDED_MUX[channel] << 12
        | pga << 9
        | MODE_SINGLE
        | DATA_RATES.index(rate_sps) << 5
        | COMP_DISABLE
    )


def counts_to_volts(counts: int, fsr_v: float) -> float:
    return counts * fsr_v / 32768


@dataclass(frozen=True, slots=True)
class Loop:
    """A 4–20 mA loop read across `shunt_ohm`, scaled linearly to [low, high] `unit`."""

    shunt_ohm: float = 150.0
    low: float = 0.0
    high: float = 100.0
    unit: str = ""  # what `value` measures, e.g. "m" for a tank level, "bar" for a pressure

    def current_ma(self, volts: float) -> float:
        return volts / self.shunt_ohm * 1000.0

    def value(self, current_ma: float) -> float:
        """Engineering value; LoopFault outside NAMUR limits (the evidence is the mA)."""
        if current_ma < NAMUR_LOW_MA or current_ma > NAMUR_HIGH_MA:
            raise LoopFault(
                f"loop current {current_ma:.2f} mA outside {NAMUR_LOW_MA}..{NAMUR_HIGH_MA} mA",
                evidence=current_ma,
            )
        return self.low + (current_ma - 4.0) / 16.0 * (self.high - self.low)


@dataclass(frozen=True)
class Ads1115Options:
    """An ADS1115's settings, checked (the driver's, and a `chips` entry's)."""

    channel: int  # single-ended input A0..A3
    fsr_v: float  # full-scale range of the PGA
    rate_sps: int
    loop: Loop

    def __post_init__(self) -> None:
        config_word(self.channel, self.fsr_v, self.rate_sps)
        if not self.loop.shunt_ohm > 0:
            raise ValueError(f"shuntOhm must be > 0, not {self.loop.shunt_ohm}")


class Ads1115(Driver):
    chip = "ads1115"
    kind = "loop"

    def __init__(
        self,
        bus: I2CBus,
        address: int = 0x48,
        sleep: Sleep = time.sleep,
        *,
        channel: int = 0,
        fsr_v: float = 4.096,
        rate_sps: int = 128,
        loop: Loop | None = None,
    ) -> None:
        super().__init__(bus, address, sleep)
        options = Ads1115Options(channel, fsr_v, rate_sps, loop or Loop())
        self.config = config_word(channel, fsr_v, rate_sps)
        self.fsr_v = fsr_v
        self.rate_sps = rate_sps
        self.channel = channel
        self.loop = options.loop

    def init(self) -> None:
        # The chip has no id register: an answer proves it is there. Configuration is written
        # with every single-shot conversion, so a chip that lost power needs nothing more.
        self.bus.read_i2c_block_data(self.address, REG_CONFIG, 2)

    def read_counts(self) -> int:
        c = self.config
        self.bus.write_i2c_block_data(self.address, REG_CONFIG, [c >> 8, c & 0xFF])
        self.sleep(1.0 / self.rate_sps + 0.0005)
        for _ in range(5):
            hi, _lo = self.bus.read_i2c_block_data(self.address, REG_CONFIG, 2)
            if hi & 0x80:  # OS reads 1 once the conversion is done
                break
            self.sleep(0.2 / self.rate_sps)
        else:
            raise NotReady("ADS1115 conversion did not finish in time")
        hi, lo = self.bus.read_i2c_block_data(self.address, REG_CONVERSION, 2)
        return to_signed16(hi << 8 | lo)

    def read(self) -> dict[str, Any]:
        volts = counts_to_volts(self.read_counts(), self.fsr_v)
        current_ma = self.loop.current_ma(volts)
        # LoopFault propagates: the caller records it as health, never as a reading.
        value = self.loop.value(current_ma)
        out: dict[str, Any] = {"voltage_v": volts, "current_ma": current_ma, "value": value}
        if self.loop.unit:
            out["unit"] = self.loop.unit
        return out
