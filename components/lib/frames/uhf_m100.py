"""Magic RF M100-family UHF readers (JRD-4035, YRM100, M5Stack UHF unit), 115200 8N1.

    HDR | TYPE | CMD | PL_MSB | PL_LSB | PARAMS[PL] | CHK | END
    HDR/END = 0xBB/0x7E (0xAA/0xDD on the R200 variant); CHK = sum(TYPE..PARAMS) & 0xFF

The host polls (TYPE 0x00); the reader answers (0x01) or notifies tags (0x02).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.lib.frames.base import DecoderStats, TagRead

BAUD = 115200
TYPE_COMMAND = 0x00
TYPE_RESPONSE = 0x01
TYPE_NOTICE = 0x02
CMD_SINGLE_POLL = 0x22
CMD_MULTI_POLL = 0x27
CMD_STOP_POLL = 0x28
CMD_ERROR = 0xFF
ERR_NO_TAG = 0x15
# The longest frame these readers send is a memory read; anything longer is noise.
MAX_PARAMS = 256
_OVERHEAD = 7


@dataclass(frozen=True, slots=True)
class UhfFrame:
    frame_type: int
    command: int
    params: bytes


@dataclass(frozen=True, slots=True)
class Variant:
    header: int
    end: int


M100 = Variant(0xBB, 0x7E)
R200 = Variant(0xAA, 0xDD)


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def encode(frame_type: int, command: int, params: bytes = b"", variant: Variant = M100) -> bytes:
    if len(params) > 0xFFFF:
        raise ValueError("parameter block longer than 65535 bytes")
    body = bytes([frame_type, command, len(params) >> 8, len(params) & 0xFF]) + params
    return bytes([variant.header]) + body + bytes([checksum(body), variant.end])


def single_poll_command(variant: Variant = M100) -> bytes:
    return encode(TYPE_COMMAND, CMD_SINGLE_POLL, b"", variant)


def tag_notice(
    epc: bytes,
    rssi_raw: int,
    pc: int = 0x3000,
    crc: int = 0,
    variant: Variant = M100,
) -> bytes:
    """The notification a reader sends for one inventoried tag."""
    params = bytes([rssi_raw & 0xFF]) + pc.to_bytes(2, "big") + epc + crc.to_bytes(2, "big")
    return encode(TYPE_NOTICE, CMD_SINGLE_POLL, params, variant)


def error_response(code: int, variant: Variant = M100) -> bytes:
    return encode(TYPE_RESPONSE, CMD_ERROR, bytes([code]), variant)


def tag_from_frame(frame: UhfFrame) -> TagRead | None:
    """The tag in an inventory notification, or None for any other frame.

    Params: RSSI (signed byte, dBm) | PC (2) | EPC (PC bits 15..11 words) | CRC (2).
    """
    if frame.frame_type != TYPE_NOTICE or frame.command != CMD_SINGLE_POLL:
        return None
    p = frame.params
    if len(p) < 5:
        return None
    pc = int.from_bytes(p[1:3], "big")
    epc_len = (pc >> 11) * 2
    if epc_len == 0 or 3 + epc_len + 2 != len(p):
        epc_len = len(p) - 5  # readers that do not fill PC honestly: trust the length
    if epc_len <= 0:
        return None
    epc = p[3 : 3 + epc_len]
    rssi = p[0] - 256 if p[0] >= 128 else p[0]
    return TagRead(tag_id=epc.hex().upper(), reader="uhf_m100", rssi_dbm=rssi, raw=bytes(p))


class UhfM100Decoder:
    """Incremental decoder of reader-to-host frames; never raises, counts every reject."""

    reader = "uhf_m100"

    def __init__(self, variant: Variant = M100) -> None:
        self.variant = variant
        self.stats = DecoderStats()
        self.errors: dict[int, int] = {}
        self._buf = bytearray()

    def feed_frames(self, data: bytes) -> list[UhfFrame]:
        self.stats.bytes_in += len(data)
        self._buf += data
        out: list[UhfFrame] = []
        while True:
            start = self._buf.find(self.variant.header)
            if start < 0:
                if self._buf:
                    self.stats.reject("no_start", len(self._buf))
                    self._buf.clear()
                break
            if start > 0:
                self.stats.reject("no_start", start)
                del self._buf[:start]
            if len(self._buf) < 5:
                break
            length = (self._buf[3] << 8) | self._buf[4]
            if length > MAX_PARAMS:
                self.stats.reject("bad_length", 1)
                del self._buf[:1]
                continue
            total = length + _OVERHEAD
            if len(self._buf) < total:
                break
            frame = bytes(self._buf[:total])
            if frame[-1] != self.variant.end:
                self.stats.reject("bad_trailer", 1)
                del self._buf[:1]
                continue
            if checksum(frame[1:-2]) != frame[-2]:
                self.stats.reject("bad_checksum", 1)
                del self._buf[:1]
                continue
            del self._buf[:total]
            self.stats.frames += 1
            out.append(UhfFrame(frame[1], frame[2], frame[5:-2]))
        return out

    def feed(self, data: bytes) -> list[TagRead]:
        """Tag reads in `data`; reader error answers are counted by code in `errors`."""
        reads: list[TagRead] = []
        for frame in self.feed_frames(data):
            if frame.frame_type == TYPE_RESPONSE and frame.command == CMD_ERROR and frame.params:
                self.errors[frame.params[0]] = self.errors.get(frame.params[0], 0) + 1
                continue
            tag = tag_from_frame(frame)
            if tag is None:
                self.stats.reject("not_a_tag", 0)
            else:
                reads.append(tag)
        return reads
