"""RDM6300 125 kHz EM4100 reader, 9600 8N1: STX | 10 hex | 2 hex XOR | ETX (14 bytes)."""

from __future__ import annotations

from components.lib.frames.base import ETX, AsciiXorDecoder

FRAME_LEN = 14
BAUD = 9600


class Rdm6300Decoder(AsciiXorDecoder):
    reader = "rdm6300"
    trailer = bytes([ETX])


def encode(tag_id: str) -> bytes:
    return Rdm6300Decoder.encode(tag_id)
