"""Technician bus scan: which addresses answer, and which chip each one is by its id register."""

from __future__ import annotations

from dataclasses import dataclass

from smbus2 import i2c_msg

from components.lib.drivers import adxl345, bme280, sht3x
from components.lib.drivers.base import ChecksumError, I2CBus

SCAN_RANGE = range(0x08, 0x78)
# i2cdetect's habit: these ranges hold EEPROMs that a quick write could corrupt; probe by read.
READ_PROBE = set(range(0x30, 0x38)) | set(range(0x50, 0x60))


@dataclass(frozen=True, slots=True)
class Found:
    address: int
    chip: str  # "unknown" when nothing matched
    detail: str = ""


def _probe(bus: I2CBus, address: int) -> bool:
    try:
        if address in READ_PROBE:
            bus.read_byte(address)  # type: ignore[attr-defined]
        else:
            bus.write_quick(address)  # type: ignore[attr-defined]
    except OSError:
        return False
    return True


def _read16(bus: I2CBus, address: int, reg: int) -> int:
    hi, lo = bus.read_i2c_block_data(address, reg, 2)
    return hi << 8 | lo


def identify(bus: I2CBus, address: int) -> Found:
    """Best effort; a chip that does not match its id stays 'unknown' with what was seen."""
    try:
        if address in bme280.ADDRESSES:
            chip_id = bus.read_byte_data(address, bme280.REG_ID)
            name = bme280.chip_name(chip_id)
            if name:
                return Found(address, name, f"id 0x{chip_id:02x}")
        if address in adxl345.ADDRESSES:
            devid = bus.read_byte_data(address, adxl345.REG_DEVID)
            if devid == adxl345.DEVID:
                return Found(address, "adxl345", f"devid 0x{devid:02x}")
        if address in sht3x.ADDRESSES:
            bus.i2c_rdwr(i2c_msg.write(address, sht3x.command_bytes(sht3x.CMD_READ_STATUS)))
            msg = i2c_msg.read(address, 3)
            bus.i2c_rdwr(msg)
            status = sht3x.check_words(bytes(msg))[0]
            return Found(address, "sht3x", f"status 0x{status:04x}")
        if 0x48 <= address <= 0x4B and (_read16(bus, address, 2), _read16(bus, address, 3)) == (
            0x8000,
            0x7FFF,
        ):
            return Found(address, "ads1115", "default thresholds")
        if 0x40 <= address <= 0x4F:
            config = _read16(bus, address, 0)
            if config & 0x4000 == 0 and config & 0x7 != 0:  # bit 14 reads 0, a mode is set
                return Found(address, "ina219", f"config 0x{config:04x}")
    except (OSError, ChecksumError) as exc:
        return Found(address, "unknown", f"answered the probe, then {exc}")
    return Found(address, "unknown")


def scan(bus: I2CBus, addresses: range | list[int] = SCAN_RANGE) -> list[Found]:
    return [identify(bus, a) for a in addresses if _probe(bus, a)]
