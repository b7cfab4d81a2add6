"""Bosch BME280 (and BMP280) temperature, pressure, humidity.

Pure parts: calibration parsing, datasheet compensation (double form, §8.1, and the integer
form, §4.2.3), raw-frame splitting, measurement time. The driver does only bus I/O around them.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any

from components.lib.drivers.base import Driver, I2CBus, NotReady, Sleep, WrongChip

ADDRESSES = (0x76, 0x77)
REG_ID = 0xD0
REG_RESET = 0xE0
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_CONFIG = 0xF5
REG_DATA = 0xF7
REG_CALIB_TP = 0x88
REG_CALIB_H1 = 0xA1
REG_CALIB_H = 0xE1
RESET_COMMAND = 0xB6
STATUS_MEASURING = 0x08
STATUS_IM_UPDATE = 0x01
CHIP_ID_BME280 = 0x60
CHIP_IDS_BMP280 = (0x56, 0x57, 0x58)
MODE_SLEEP, MODE_FORCED, MODE_NORMAL = 0b00, 0b01, 0b11
# Oversampling factor -> osrs code; 0 means "skipped".
OSRS_CODE = {0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5}
FILTER_CODE = {0: 0, 2: 1, 4: 2, 8: 3, 16: 4}
SKIPPED_TP = 0x80000  # what a skipped (or never converted) T/P channel reads
SKIPPED_H = 0x8000
STANDBY_CODE_MS = {0.5: 0, 62.5: 1, 125: 2, 250: 3, 500: 4, 1000: 5, 10: 6, 20: 7}


@dataclass(frozen=True, slots=True)
class Calibration:
    t1: int
    t2: int
    t3: int
    p1: int
    p2: int
    p3: int
    p4: int
    p5: int
    p6: int
    p7: int
    p8: int
    p9: int
    h1: int = 0
    h2: int = 0
    h3: int = 0
    h4: int = 0
    h5: int = 0
    h6: int = 0


def parse_calibration(tp: bytes, h1: int = 0, h: bytes | None = None) -> Calibration:
    """Trimming values from 0x88..0x9F (24 bytes), 0xA1 and 0xE1..0xE7 (7 bytes, BME280 only)."""
    if len(tp) < 24:
        raise ValueError(f"need 24 calibration bytes from 0x88, got {len(tp)}")
    t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9 = struct.unpack("<HhhHhhhhhhhh", tp[:24])
    if h is None:
        return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9)
    if len(h) < 7:
        raise ValueError(f"need 7 humidity calibration bytes from 0xE1, got {len(h)}")
    h2 = struct.unpack("<h", h[0:2])[0]
    h3 = h[2]
    e4 = struct.unpack("b", h[3:4])[0]
    e6 = struct.unpack("b", h[5:6])[0]
    h4 = e4 * 16 | (h[4] & 0x0F)
    h5 = e6 * 16 | (h[4] >> 4)
    h6 = struct.unpack("b", h[6:7])[0]
    return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, h1, h2, h3, h4, h5, h6)


def calibration_crc(data: bytes) -> int:
    """CRC-8/SAE-J1850 (poly 0x1D, init 0xFF, xorout 0xFF) the chip keeps in 0xE8 over its
    33 calibration bytes (0x88..0xA1 then 0xE1..0xE7)."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


def split_raw(data: bytes) -> tuple[int, int, int | None]:
    """(adc_P, adc_T, adc_H) from the 0xF7.. burst (8 bytes; 6 for a BMP280)."""
    adc_p = data[0] << 12 | data[1] << 4 | data[2] >> 4
    adc_t = data[3] << 12 | data[4] << 4 | data[5] >> 4
    adc_h = data[6] << 8 | data[7] if len(data) >= 8 else None
    return adc_p, adc_t, adc_h


def t_fine_and_celsius(cal: Calibration, adc_t: int) -> tuple[int, float]:
    v1 = (adc_t / 16384.0 - cal.t1 / 1024.0) * cal.t2
    v2 = (adc_t / 131072.0 - cal.t1 / 8192.0) ** 2 * cal.t3
    return int(v1 + v2), (v1 + v2) / 5120.0


def pressure_pa(cal: Calibration, t_fine: int, adc_p: int) -> float | None:
    """Datasheet §8.1 double form. None when the calibration makes it undefined (P1 = 0)."""
    v1 = t_fine / 2.0 - 64000.0
    v2 = v1 * v1 * cal.p6 / 32768.0 + v1 * cal.p5 * 2.0
    v2 = v2 / 4.0 + cal.p4 * 65536.0
    v1 = (cal.p3 * v1 * v1 / 524288.0 + cal.p2 * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * cal.p1
    if v1 == 0:
        return None
    p = 1048576.0 - adc_p
    p = (p - v2 / 4096.0) * 6250.0 / v1
    return p + (cal.p9 * p * p / 2147483648.0 + p * cal.p8 / 32768.0 + cal.p7) / 16.0


def humidity_pct(cal: Calibration, t_fine: int, adc_h: int) -> float:
    h = t_fine - 76800.0
    h = (adc_h - (cal.h4 * 64.0 + cal.h5 / 16384.0 * h)) * (
        cal.h2 / 65536.0 * (1.0 + cal.h6 / 67108864.0 * h * (1.0 + cal.h3 / 67108864.0 * h))
    )
    h = h * (1.0 - cal.h1 * h / 524288.0)
    return min(100.0, max(0.0, h))


# What the chip resolves (datasheet: 0.01 °C, 0.18 Pa, 0.008 %RH at full oversampling):
# readings are reported to that, not to a double's 17 digits, which would only be noise to
# store and send (uplink batches shrink about fivefold).
RESOLUTION_DECIMALS = {"temperature_c": 2, "pressure_pa": 1, "humidity_pct": 3}


def compensate(cal: Calibration, adc_p: int, adc_t: int, adc_h: int | None) -> dict[str, Any]:
    t_fine, t_c = t_fine_and_celsius(cal, adc_t)
    out: dict[str, Any] = {"temperature_c": t_c, "pressure_pa": pressure_pa(cal, t_fine, adc_p)}
    if adc_h is not None:
        out["humidity_pct"] = humidity_pct(cal, t_fine, adc_h)
    return out


def compensate_int(cal: Calibration, adc_p: int, adc_t: int, adc_h: int) -> tuple[int, ...]:
    """Datasheet §4.2.3 integer forms: (T centi-°C, t_fine, P Q24.8 Pa, H Q22.10 %RH)."""
    v1 = (((adc_t >> 3) - (cal.t1 << 1)) * cal.t2) >> 11
    d = (adc_t >> 4) - cal.t1
    v2 = (((d * d) >> 12) * cal.t3) >> 14
    t_fine = v1 + v2
    t = (t_fine * 5 + 128) >> 8
    a = t_fine - 128000
    b = a * a * cal.p6 + ((a * cal.p5) << 17) + (cal.p4 << 35)
    a = ((a * a * cal.p3) >> 8) + ((a * cal.p2) << 12)
    a = (((1 << 47) + a) * cal.p1) >> 33
    if a == 0:
        p = 0
    else:
        p = 1048576 - adc_p
        num = ((p << 31) - b) * 3125
        p = abs(num) // abs(a) * (1 if (num >= 0) == (a > 0) else -1)  # C division
        a2 = (cal.p9 * (p >> 13) * (p >> 13)) >> 25
        b2 = (cal.p8 * p) >> 19
        p = ((p + a2 + b2) >> 8) + (cal.p7 << 4)
    dt = t_fine - 76800
    first = (((adc_h << 14) - (cal.h4 << 20) - (cal.h5 * dt)) + 16384) >> 15
    inner = (((dt * cal.h6) >> 10) * (((dt * cal.h3) >> 11) + 32768)) >> 10
    v = first * (((inner + 2097152) * cal.h2 + 8192) >> 14)
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * cal.h1) >> 4)
    v = min(max(v, 0), 419430400)
    return t, t_fine, p, v >> 12


def measurement_time_ms(os_t: int, os_p: int, os_h: int) -> float:
    """Maximum conversion time (datasheet appendix B; Bosch API constants)."""
    t = 1.25 + 2.3 * os_t
    if os_p:
        t += 2.3 * os_p + 0.575
    if os_h:
        t += 2.3 * os_h + 0.575
    return t


def chip_name(chip_id: int) -> str | None:
    if chip_id == CHIP_ID_BME280:
        return "bme280"
    if chip_id in CHIP_IDS_BMP280:
        return "bmp280"
    return None


@dataclass(frozen=True)
class Bme280Options:
    """A BME280's settings, checked: what the driver is given, and what a `chips` entry says
    (named as in the recipe in the errors)."""

    oversampling: tuple[int, int, int]  # temperature, pressure, humidity; 0 skips one
    mode: str
    iir_filter: int
    standby_ms: float

    def __post_init__(self) -> None:
        if self.mode not in ("forced", "normal"):
            raise ValueError(f"mode {self.mode!r} is not 'forced' or 'normal'")
        if len(self.oversampling) != 3:
            raise ValueError(
                "oversampling needs 3 factors (temperature, pressure, humidity), "
                f"got {list(self.oversampling)}"
            )
        for factor in self.oversampling:
            if factor not in OSRS_CODE:
                raise ValueError(f"oversampling {factor} is not one of {sorted(OSRS_CODE)}")
        if self.iir_filter not in FILTER_CODE:
            raise ValueError(f"iirFilter {self.iir_filter} is not one of {sorted(FILTER_CODE)}")
        if self.standby_ms not in STANDBY_CODE_MS:
            raise ValueError(f"standbyMs {self.standby_ms} is not one of {sorted(STANDBY_CODE_MS)}")


class Bme280(Driver):
    """Forced mode by default (one conversion per read, the chip sleeps between); normal mode
    keeps converting with the configured standby and IIR filter."""

    chip = "bme280"
    kind = "env"

    def __init__(
        self,
        bus: I2CBus,
        address: int = 0x76,
        sleep: Sleep = time.sleep,
        *,
        oversampling: tuple[int, int, int] = (1, 1, 1),
        mode: str = "forced",
        iir_filter: int = 0,
        standby_ms: float = 62.5,
    ) -> None:
        super().__init__(bus, address, sleep)
        options = Bme280Options(oversampling, mode, iir_filter, standby_ms)
        self.os_t, self.os_p, self.os_h = options.oversampling
        self.mode = options.mode
        self.filter_code = FILTER_CODE[options.iir_filter]
        self.standby_code = STANDBY_CODE_MS[options.standby_ms]
        self.cal: Calibration | None = None
        self.detected = "bme280"

    def init(self) -> None:
        chip_id = self.bus.read_byte_data(self.address, REG_ID)
        name = chip_name(chip_id)
        if name is None:
            raise WrongChip(
                f"id 0x{chip_id:02x} at 0x{self.address:02x} is no BME280/BMP280", evidence=chip_id
            )
        self.detected = name  # a BMP280 on a board sold as BME280: it has no humidity
        self.bus.write_byte_data(self.address, REG_RESET, RESET_COMMAND)
        self.sleep(0.002)
        for _ in range(10):
            if not self.bus.read_byte_data(self.address, REG_STATUS) & STATUS_IM_UPDATE:
                break
            self.sleep(0.002)
        tp = bytes(self.bus.read_i2c_block_data(self.address, REG_CALIB_TP, 26))
        if name == "bme280":
            h = bytes(self.bus.read_i2c_block_data(self.address, REG_CALIB_H, 7))
            self.cal = parse_calibration(tp, tp[25], h)
            # ctrl_hum takes effect only after the following ctrl_meas write.
            self.bus.write_byte_data(self.address, REG_CTRL_HUM, OSRS_CODE[self.os_h])
        else:
            self.cal = parse_calibration(tp)
        config = self.standby_code << 5 | self.filter_code << 2
        self.bus.write_byte_data(self.address, REG_CONFIG, config)  # in sleep mode, after reset
        self._write_ctrl_meas(MODE_NORMAL if self.mode == "normal" else MODE_SLEEP)

    def _write_ctrl_meas(self, mode: int) -> None:
        value = OSRS_CODE[self.os_t] << 5 | OSRS_CODE[self.os_p] << 2 | mode
        self.bus.write_byte_data(self.address, REG_CTRL_MEAS, value)

    def read(self) -> dict[str, Any]:
        if self.cal is None:
            self.init()
        assert self.cal is not None
        has_h = self.detected == "bme280"
        if self.mode == "forced":
            self._write_ctrl_meas(MODE_FORCED)
            self.sleep(measurement_time_ms(self.os_t, self.os_p, self.os_h if has_h else 0) / 1e3)
            for _ in range(5):
                if not self.bus.read_byte_data(self.address, REG_STATUS) & STATUS_MEASURING:
                    break
                self.sleep(0.001)
            else:
                raise NotReady("BME280 still measuring after its maximum conversion time")
        raw = bytes(self.bus.read_i2c_block_data(self.address, REG_DATA, 8 if has_h else 6))
        adc_p, adc_t, adc_h = split_raw(raw)
        if (
            adc_t == SKIPPED_TP
            or (self.os_p and adc_p == SKIPPED_TP)
            or (has_h and self.os_h and adc_h == SKIPPED_H)
        ):
            # Reset values: no conversion has completed yet (normal mode just started).
            raise NotReady("BME280 data registers still hold their reset values", raw)
        out = {
            k: round(v, RESOLUTION_DECIMALS[k])
            for k, v in compensate(self.cal, adc_p, adc_t, adc_h).items()
        }
        if self.os_p == 0:
            out.pop("pressure_pa")
        if self.os_h == 0:
            out.pop("humidity_pct", None)
        if self.detected != "bme280":
            out["chip"] = self.detected
        return out
