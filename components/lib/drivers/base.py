"""What every driver shares: the bus protocol it needs, named errors, the driver shape."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

Sleep = Callable[[float], None]

# What i2c-dev reports when a chip does not answer or the bus glitches.
TRANSIENT_ERRNOS = frozenset({errno.EREMOTEIO, errno.EIO, errno.ETIMEDOUT, errno.EAGAIN})


class I2CBus(Protocol):
    """The subset of smbus2.SMBus the drivers use (the emulated bus implements it too)."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...
    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...
    def write_i2c_block_data(self, i2c_addr: int, register: int, data: list[int]) -> None: ...
    def i2c_rdwr(self, *i2c_msgs: Any) -> None: ...


class SensorError(Exception):
    """Base of driver errors; `.evidence` carries what was read."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class ChecksumError(SensorError):
    """A CRC over chip data did not match: the data is never turned into a reading."""


class WrongChip(SensorError):
    """The id register names a different chip than configured."""


class NotReady(SensorError):
    """The chip has not finished its conversion in the time it promises."""


class SensorNotResponding(SensorError):
    """Retries exhausted: the chip NACKs or the bus returns EIO."""


def to_signed16(value: int) -> int:
    """A 16-bit register read as two's complement (INA219 shunt and current, ADS1115 result)."""
    return value - 0x10000 if value & 0x8000 else value


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


class Driver:
    """A chip at an address on a bus. `init()` configures it; `read()` returns one payload."""

    chip: ClassVar[str] = "?"
    kind: ClassVar[str] = "env"

    def __init__(self, bus: I2CBus, address: int, sleep: Sleep = time.sleep) -> None:
        self.bus = bus
        self.address = address
        self.sleep = sleep

    @property
    def stream(self) -> str:
        return f"{self.kind}/{self.chip}@0x{self.address:02x}"

    @property
    def read_seconds(self) -> float:
        """How long `read()` takes at least (a chip that gathers data over a window); 0: about
        one bus transaction."""
        return 0.0

    def init(self) -> None:
        raise NotImplementedError

    def read(self) -> Mapping[str, Any]:
        raise NotImplementedError
