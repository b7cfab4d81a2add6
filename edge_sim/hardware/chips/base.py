"""The chip-model base: time from an injected clock, presence and line noise from the world."""

from __future__ import annotations

import errno
import os

from components.core.clock import Clock, SystemClock
from edge_sim.world.scenario import ChipWorld


def nack(address: int) -> OSError:
    """What Linux i2c-dev raises when nobody acknowledges the address."""
    return OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO) + f" (0x{address:02x})")


class I2CChip:
    chip = "?"

    def __init__(
        self, address: int, world: ChipWorld | None = None, clock: Clock | None = None
    ) -> None:
        self.address = address
        self.world = world or ChipWorld()
        self.clock = clock or SystemClock()
        self._t0_ns = self.clock.monotonic_ns()
        self._transactions = 0
        self.was_absent = False

    def t_s(self) -> float:
        return (self.clock.monotonic_ns() - self._t0_ns) / 1e9

    def check_present(self) -> None:
        """NACK if unplugged or if line noise hits this transaction. Replugging resets the
        chip (it lost power), so a driver has to initialise it again."""
        self._transactions += 1
        if not self.world.bus_faults:
            return  # nothing can happen on this chip's line: skip the clock and the draws
        t = self.t_s()
        if not self.world.present(t):
            self.was_absent = True
            raise nack(self.address)
        if self.was_absent:
            self.was_absent = False
            self.power_on_reset()
        if self.world.line_error(t, 2 * self._transactions):
            raise nack(self.address)

    def corrupt(self, data: bytes) -> bytes:
        """Flip one bit of a read when line noise hits it."""
        world = self.world
        if data and world.bus_faults and world.line_error(self.t_s(), 2 * self._transactions + 1):
            i = self._transactions % len(data)
            data = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]
        return data

    def power_on_reset(self) -> None:
        raise NotImplementedError

    # The two wire operations. Subclasses implement on_write / on_read.
    def i2c_write(self, data: bytes) -> None:
        self.check_present()
        self.on_write(data)

    def i2c_read(self, n: int) -> bytes:
        self.check_present()
        return self.corrupt(self.on_read(n))

    def on_write(self, data: bytes) -> None:
        raise NotImplementedError

    def on_read(self, n: int) -> bytes:
        raise NotImplementedError
