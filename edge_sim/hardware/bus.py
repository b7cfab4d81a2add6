"""An emulated I2C bus with smbus2.SMBus's interface, decomposing every call into the wire
messages Linux i2c-dev would put on the bus (so chip models see what real chips see)."""

from __future__ import annotations

import ctypes
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from components.core.clock import Clock, SystemClock
from edge_sim.hardware.chips import MODELS, I2CChip
from edge_sim.hardware.chips.base import nack
from edge_sim.world.scenario import ChipSpec, load, read_scenario_file

# The scenario file whose chips the "sim" bus carries, in each component's process.
ENV_SIM_SCENARIO = "FLOORLINE_SIM_SCENARIO"

I2C_M_RD = 0x0001
SMBUS_BLOCK_MAX = 32  # i2c-dev's limit for the *_i2c_block_data calls, enforced like smbus2


class SimBus:
    """Drop-in for `smbus2.SMBus(n)`; chips are attached by address."""

    def __init__(self, chips: Iterable[I2CChip] = (), bus: int = 1) -> None:
        self.bus = bus
        self.chips: dict[int, I2CChip] = {}
        self.stats: Counter[str] = Counter()
        self.trace: list[tuple[str, int, bytes]] | None = None
        for chip in chips:
            self.attach(chip)

    def attach(self, chip: I2CChip) -> I2CChip:
        if chip.address in self.chips:
            raise ValueError(f"address 0x{chip.address:02x} already taken on the bus")
        self.chips[chip.address] = chip
        return chip

    def detach(self, address: int) -> I2CChip:
        return self.chips.pop(address)

    # -- the two wire operations ----------------------------------------------------------
    def _chip(self, addr: int) -> I2CChip:
        chip = self.chips.get(addr)
        if chip is None:
            raise nack(addr)
        return chip

    def _w(self, addr: int, data: bytes | list[int]) -> None:
        data = bytes(data)
        self.stats["write"] += 1
        if self.trace is not None:
            self.trace.append(("W", addr, data))
        try:
            self._chip(addr).i2c_write(data)
        except OSError:
            self.stats["nack"] += 1
            raise

    def _r(self, addr: int, n: int) -> bytes:
        self.stats["read"] += 1
        try:
            data = self._chip(addr).i2c_read(n)
        except OSError:
            self.stats["nack"] += 1
            raise
        if self.trace is not None:
            self.trace.append(("R", addr, data))
        return data

    # -- smbus2.SMBus interface -----------------------------------------------------------
    def open(self, bus: int) -> None:
        self.bus = bus

    def close(self) -> None:
        pass

    def __enter__(self) -> SimBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self._w(i2c_addr, b"")

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return self._r(i2c_addr, 1)[0]

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._w(i2c_addr, [value])

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        self._w(i2c_addr, [register])
        return self._r(i2c_addr, 1)[0]

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        self._w(i2c_addr, [register, value])

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        self._w(i2c_addr, [register])
        lo, hi = self._r(i2c_addr, 2)
        return lo | hi << 8  # SMBus words are LSB first

    def write_word_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        self._w(i2c_addr, [register, value & 0xFF, value >> 8])

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        if length > SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {SMBUS_BLOCK_MAX} bytes")
        self._w(i2c_addr, [register])
        return list(self._r(i2c_addr, length))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: list[int], force: bool | None = None
    ) -> None:
        if len(data) > SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {SMBUS_BLOCK_MAX} bytes")
        self._w(i2c_addr, [register, *data])

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        """smbus2.i2c_msg objects: writes as-is, reads filled in place."""
        for msg in i2c_msgs:
            if msg.flags & I2C_M_RD:
                data = self._r(msg.addr, msg.len)
                ctypes.memmove(msg.buf, data, msg.len)
            else:
                self._w(msg.addr, ctypes.string_at(msg.buf, msg.len))


def build_bus(specs: Iterable[ChipSpec], clock: Clock | None = None, bus: int = 1) -> SimBus:
    """A bus with one model per scenario chip, all on the same clock."""
    clock = clock or SystemClock()
    sim = SimBus(bus=bus)
    for spec in specs:
        model = MODELS[spec.chip]
        options: Mapping[str, Any] = dict(spec.options)
        if spec.chip == "bmp280":
            options = {**options, "chip_id": 0x58}
        sim.attach(model(spec.address, spec.world, clock, **options))
    return sim


def open_sim_bus(clock: Clock | None = None, env: Mapping[str, str] | None = None) -> SimBus:
    """The "sim" entry of the `floorline.buses` registry (pyproject.toml): a bus with the
    chips of the scenario file FLOORLINE_SIM_SCENARIO names (none when it names none)."""
    env = os.environ if env is None else env
    path = env.get(ENV_SIM_SCENARIO)
    scenario = read_scenario_file(path) if path else {"chips": []}
    return build_bus(load(scenario), clock)
