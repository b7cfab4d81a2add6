"""Other host-side I2C APIs over the same emulated bus, so third-party drivers can read our
chip models: CircuitPython's `busio.I2C` (Adafruit drivers) speaks writeto/readfrom_into."""

from __future__ import annotations

from edge_sim.hardware.bus import SimBus


class BusioI2C:
    """The `busio.I2C` surface Adafruit's I2CDevice uses."""

    def __init__(self, bus: SimBus) -> None:
        self.bus = bus
        self._locked = False

    def try_lock(self) -> bool:
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self) -> None:
        self._locked = False

    def scan(self) -> list[int]:
        found = []
        for addr in range(0x08, 0x78):
            try:
                self.bus.write_quick(addr)
            except OSError:
                continue
            found.append(addr)
        return found

    def writeto(
        self, address: int, buffer: bytes, *, start: int = 0, end: int | None = None
    ) -> None:
        self.bus._w(address, bytes(buffer[start:end]))

    def readfrom_into(
        self, address: int, buffer: bytearray, *, start: int = 0, end: int | None = None
    ) -> None:
        end = len(buffer) if end is None else end
        buffer[start:end] = self.bus._r(address, end - start)

    def writeto_then_readfrom(
        self,
        address: int,
        buffer_out: bytes,
        buffer_in: bytearray,
        *,
        out_start: int = 0,
        out_end: int | None = None,
        in_start: int = 0,
        in_end: int | None = None,
    ) -> None:
        self.writeto(address, buffer_out, start=out_start, end=out_end)
        self.readfrom_into(address, buffer_in, start=in_start, end=in_end)

    def deinit(self) -> None:
        pass
