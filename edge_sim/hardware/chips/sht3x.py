"""SHT3x command model: single shot (with and without clock stretching), periodic mode with
fetch, status register, heater, soft reset, serial number; NACKs a read before data is ready."""

from __future__ import annotations

import math

from components.core.clock import Clock
from components.lib.drivers import sht3x as drv
from edge_sim.hardware.chips.base import I2CChip, nack
from edge_sim.world.scenario import ChipWorld

SINGLE_SHOT_S = {
    0x2400: 0.0155,
    0x240B: 0.0065,
    0x2416: 0.0045,
    0x2C06: 0.0155,
    0x2C0D: 0.0065,
    0x2C10: 0.0045,
}
CLOCK_STRETCHING = frozenset({0x2C06, 0x2C0D, 0x2C10})
PERIODIC_MPS = {cmd: mps for (mps, _rep), cmd in drv.CMD_PERIODIC.items()}
PERIODIC_MPS[0x273A] = 10  # the 10 mps low-repeatability code some vendor drivers send
PERIODIC_MPS[drv.CMD_ART] = 4
CMD_SERIAL = 0x3780
STATUS_POWER_UP = 0x8010
STATUS_HEATER = 1 << 13
STATUS_RESET_SEEN = 1 << 4


def ticks_for(t_c: float, h_pct: float) -> tuple[int, int]:
    t = round((t_c + 45.0) * 65535.0 / 175.0)
    h = round(h_pct * 65535.0 / 100.0)
    return min(max(t, 0), 0xFFFF), min(max(h, 0), 0xFFFF)


def words_with_crc(*words: int) -> bytes:
    out = bytearray()
    for w in words:
        pair = bytes([w >> 8, w & 0xFF])
        out += pair + bytes([drv.crc8(pair)])
    return bytes(out)


class Sht3xModel(I2CChip):
    chip = "sht3x"

    def __init__(
        self,
        address: int = 0x44,
        world: ChipWorld | None = None,
        clock: Clock | None = None,
        *,
        serial_number: int = 0x1234ABCD,
    ) -> None:
        super().__init__(address, world, clock)
        self.serial_number = serial_number
        self.commands: list[int] = []
        self.power_on_reset()

    def power_on_reset(self) -> None:
        self.status = STATUS_POWER_UP
        self.pending: bytes | None = None
        self.ready_at_s = 0.0
        self.periodic_mps: float | None = None
        self.periodic_since_s = 0.0
        self.fetched = 0

    def _measure(self, t_s: float) -> bytes | None:
        t_c = self.world.value("temperature_c", t_s)
        h_pct = self.world.value("humidity_pct", t_s)
        if math.isnan(t_c) or math.isnan(h_pct):
            return None
        return words_with_crc(*ticks_for(t_c, h_pct))

    def on_write(self, data: bytes) -> None:
        if len(data) < 2:
            return  # a probe, or the stray register byte of read_i2c_block_data(addr, 0, n)
        cmd = data[0] << 8 | data[1]
        self.commands.append(cmd)
        now = self.t_s()
        if self.periodic_mps is not None and cmd not in (
            drv.CMD_FETCH,
            drv.CMD_BREAK,
            drv.CMD_SOFT_RESET,
            drv.CMD_READ_STATUS,
        ):
            self.status |= 0x2  # "last command not processed": only fetch/break in periodic
            return
        if cmd in SINGLE_SHOT_S:
            self.ready_at_s = now if cmd in CLOCK_STRETCHING else now + SINGLE_SHOT_S[cmd]
            self.pending = self._measure(now + SINGLE_SHOT_S[cmd])
        elif cmd in PERIODIC_MPS:
            self.periodic_mps = PERIODIC_MPS[cmd]
            self.periodic_since_s = now
            self.fetched = 0
        elif cmd == drv.CMD_FETCH:
            self._fetch(now)
        elif cmd == drv.CMD_BREAK:
            self.periodic_mps = None
        elif cmd == drv.CMD_SOFT_RESET:
            self.power_on_reset()
            self.ready_at_s = now + drv.RESET_S
        elif cmd == drv.CMD_READ_STATUS:
            self.pending = words_with_crc(self.status)
            self.ready_at_s = now
        elif cmd == drv.CMD_CLEAR_STATUS:
            self.status &= ~(0x8000 | 0x0800 | 0x0400 | STATUS_RESET_SEEN) & 0xFFFF
        elif cmd == drv.CMD_HEATER_ON:
            self.status |= STATUS_HEATER
        elif cmd == drv.CMD_HEATER_OFF:
            self.status &= ~STATUS_HEATER & 0xFFFF
        elif cmd == CMD_SERIAL:
            self.pending = words_with_crc(self.serial_number >> 16, self.serial_number & 0xFFFF)
            self.ready_at_s = now
        else:
            self.status |= 0x2

    def _fetch(self, now: float) -> None:
        assert self.periodic_mps is not None
        produced = math.floor((now - self.periodic_since_s) * self.periodic_mps)
        if produced > self.fetched:
            self.fetched = produced
            self.pending = self._measure(self.periodic_since_s + produced / self.periodic_mps)
            self.ready_at_s = now
        else:
            self.pending = None  # no new data: the read is NACKed

    def on_read(self, n: int) -> bytes:
        if self.pending is None or self.t_s() < self.ready_at_s:
            raise nack(self.address)
        data, self.pending = self.pending, None
        return (data + b"\xff" * n)[:n]
