"""ID Innovations ID-2LA/ID-12LA/ID-20LA, ASCII mode, 9600 8N1:
STX | 10 hex | 2 hex XOR | CR LF ETX (16 bytes)."""

from __future__ import annotations

from components.lib.frames.base import ETX, AsciiXorDecoder

FRAME_LEN = 16
BAUD = 9600


class Id12Decoder(AsciiXorDecoder):
    reader = "id12"
    trailer = bytes([0x0D, 0x0A, ETX])


def encode(tag_id: str) -> bytes:
    return Id12Decoder.encode(tag_id)
