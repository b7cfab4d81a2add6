"""Shared pieces of the frame decoders: the tag read, the reject statistics, ASCII-hex frames."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import reduce

STX = 0x02
ETX = 0x03


@dataclass(frozen=True, slots=True)
class TagRead:
    """One valid frame naming a tag. `tag_id` is the canonical upper-case hex id."""

    tag_id: str
    reader: str
    rssi_dbm: int | None = None
    raw: bytes = b""


@dataclass(slots=True)
class DecoderStats:
    frames: int = 0
    bytes_in: int = 0
    bytes_discarded: int = 0
    rejects: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str, discarded: int) -> None:
        self.rejects[reason] += 1
        self.bytes_discarded += discarded

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "bytes_in": self.bytes_in,
            "bytes_discarded": self.bytes_discarded,
            "rejects": dict(self.rejects),
        }


def xor_checksum(data: bytes) -> int:
    return reduce(lambda acc, b: acc ^ b, data, 0)


_HEX = frozenset(b"0123456789ABCDEFabcdef")


def parse_ascii_hex(chars: bytes) -> bytes | None:
    """Bytes from ASCII hex, or None when any character is not a hex digit."""
    if len(chars) % 2 or any(c not in _HEX for c in chars):
        return None
    return bytes.fromhex(chars.decode("ascii"))


class AsciiXorDecoder:
    """STX | 10 ASCII-hex data chars | 2 ASCII-hex XOR checksum | trailer — EM4100 style readers.

    Resynchronises on the next STX after any bad frame. Subclasses only name the trailer.
    """

    reader = "ascii-xor"
    trailer: bytes = bytes([ETX])
    data_chars = 10

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()

    @property
    def frame_len(self) -> int:
        return 1 + self.data_chars + 2 + len(self.trailer)

    def feed(self, data: bytes) -> list[TagRead]:
        self.stats.bytes_in += len(data)
        self._buf += data
        out: list[TagRead] = []
        while True:
            start = self._buf.find(STX)
            if start < 0:
                if self._buf:
                    self.stats.reject("no_start", len(self._buf))
                    self._buf.clear()
                break
            if start > 0:
                self.stats.reject("no_start", start)
                del self._buf[:start]
            # No frame byte other than the first is ever STX, so a second STX inside the
            # window means this frame was cut short: resynchronise there.
            restart = self._buf.find(STX, 1, self.frame_len)
            if restart > 0:
                self.stats.reject("truncated", restart)
                del self._buf[:restart]
                continue
            if len(self._buf) < self.frame_len:
                break
            frame = bytes(self._buf[: self.frame_len])
            read, reason = self._decode(frame)
            if read is None:
                # Drop only the STX: a real frame may begin inside this bad window.
                self.stats.reject(reason, 1)
                del self._buf[:1]
                continue
            del self._buf[: self.frame_len]
            self.stats.frames += 1
            out.append(read)
        return out

    def _decode(self, frame: bytes) -> tuple[TagRead | None, str]:
        if frame[-len(self.trailer) :] != self.trailer:
            return None, "bad_trailer"
        body = parse_ascii_hex(frame[1 : 1 + self.data_chars])
        check = parse_ascii_hex(frame[1 + self.data_chars : 3 + self.data_chars])
        if body is None or check is None:
            return None, "bad_hex"
        if xor_checksum(body) != check[0]:
            return None, "bad_checksum"
        return TagRead(tag_id=body.hex().upper(), reader=self.reader, raw=frame), ""

    @classmethod
    def encode(cls, tag_id: str) -> bytes:
        """The wire frame a reader sends for `tag_id` (10 hex chars)."""
        body = bytes.fromhex(tag_id)
        if len(body) * 2 != cls.data_chars:
            raise ValueError(f"tag id {tag_id!r} must be {cls.data_chars} hex characters")
        text = body.hex().upper() + f"{xor_checksum(body):02X}"
        return bytes([STX]) + text.encode("ascii") + cls.trailer
