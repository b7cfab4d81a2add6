"""Sensirion SHT3x (SHT30/31/35): single shot without clock stretching, CRC-checked.

The Pi's I2C controller mishandles clock stretching, so the driver sends 0x24xx, waits the
maximum conversion time and reads 6 raw bytes with i2c_rdwr (no register byte on the wire).
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from typing import Any

from smbus2 import i2c_msg

from components.lib.drivers.base import ChecksumError, Driver, I2CBus, NotReady, Sleep

ADDRESSES = (0x44, 0x45)
CMD_SINGLE_SHOT = {"high": 0x2400, "medium": 0x240B, "low": 0x2416}
CONVERSION_S = {"high": 0.0155, "medium": 0.0065, "low": 0.0045}
CMD_SOFT_RESET = 0x30A2
CMD_BREAK = 0x3093
CMD_READ_STATUS = 0xF32D
CMD_CLEAR_STATUS = 0x3041
CMD_HEATER_ON = 0x306D
CMD_HEATER_OFF = 0x3066
CMD_FETCH = 0xE000
CMD_ART = 0x2B32
# Periodic mode: (measurements per second, repeatability) -> command. 10 mps high is 0x2737;
# medium/low at 10 mps are 0x2721 / 0x272A (0x273A in some vendor code is accepted by the model).
CMD_PERIODIC = {
    (0.5, "high"): 0x2032,
    (0.5, "medium"): 0x2024,
    (0.5, "low"): 0x202F,
    (1, "high"): 0x2130,
    (1, "medium"): 0x2126,
    (1, "low"): 0x212D,
    (2, "high"): 0x2236,
    (2, "medium"): 0x2220,
    (2, "low"): 0x222B,
    (4, "high"): 0x2334,
    (4, "medium"): 0x2322,
    (4, "low"): 0x2329,
    (10, "high"): 0x2737,
    (10, "medium"): 0x2721,
    (10, "low"): 0x272A,
}
RESET_S = 0.0015


def crc8(data: bytes) -> int:
    """Sensirion CRC-8: poly 0x31, init 0xFF, no reflection, no final XOR."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def check_words(data: bytes) -> list[int]:
    """16-bit words from `msb lsb crc` triplets; ChecksumError on the first bad CRC."""
    if len(data) % 3:
        raise ChecksumError(f"{len(data)} bytes is not a whole number of word+CRC", data)
    words = []
    for i in range(0, len(data), 3):
        if crc8(data[i : i + 2]) != data[i + 2]:
            word = data[i : i + 2]
            raise ChecksumError(
                f"CRC 0x{data[i + 2]:02x} != 0x{crc8(word):02x} over {word.hex()}",
                evidence=bytes(data),
            )
        words.append(data[i] << 8 | data[i + 1])
    return words


def temperature_c(ticks: int) -> float:
    return -45.0 + 175.0 * ticks / 65535.0


def humidity_pct(ticks: int) -> float:
    return 100.0 * ticks / 65535.0


def decode_measurement(data: bytes) -> dict[str, float]:
    """The 6-byte answer `T_msb T_lsb CRC RH_msb RH_lsb CRC`."""
    t_ticks, rh_ticks = check_words(bytes(data))
    return {"temperature_c": temperature_c(t_ticks), "humidity_pct": humidity_pct(rh_ticks)}


def command_bytes(command: int) -> bytes:
    return bytes([command >> 8, command & 0xFF])


@dataclass(frozen=True)
class Sht3xOptions:
    """An SHT3x's settings, checked (the driver's, and a `chips` entry's)."""

    repeatability: str  # high, medium, low: noise against conversion time

    def __post_init__(self) -> None:
        if self.repeatability not in CMD_SINGLE_SHOT:
            raise ValueError(f"repeatability {self.repeatability!r} not in {list(CMD_SINGLE_SHOT)}")


class Sht3x(Driver):
    chip = "sht3x"
    kind = "env"

    def __init__(
        self,
        bus: I2CBus,
        address: int = 0x44,
        sleep: Sleep = time.sleep,
        *,
        repeatability: str = "high",
    ) -> None:
        super().__init__(bus, address, sleep)
        self.repeatability = Sht3xOptions(repeatability).repeatability
        self.status: int | None = None

    def _command(self, command: int) -> None:
        self.bus.i2c_rdwr(i2c_msg.write(self.address, command_bytes(command)))

    def _read(self, n: int) -> bytes:
        msg = i2c_msg.read(self.address, n)
        self.bus.i2c_rdwr(msg)
        return bytes(msg)

    def init(self) -> None:
        self._command(CMD_BREAK)  # in case a previous run left it in periodic mode
        self.sleep(RESET_S)
        self._command(CMD_SOFT_RESET)
        self.sleep(RESET_S)
        self._command(CMD_READ_STATUS)
        self.status = check_words(self._read(3))[0]

    def read(self) -> dict[str, Any]:
        self._command(CMD_SINGLE_SHOT[self.repeatability])
        self.sleep(CONVERSION_S[self.repeatability])
        try:
            data = self._read(6)
        except OSError as exc:
            # A NACK here means "not ready yet": wait once more before calling it a fault.
            if exc.errno != errno.EREMOTEIO:
                raise
            self.sleep(CONVERSION_S[self.repeatability])
            try:
                data = self._read(6)
            except OSError as again:
                raise NotReady("SHT3x NACKed the read twice after a single-shot command") from again
        return decode_measurement(data)
