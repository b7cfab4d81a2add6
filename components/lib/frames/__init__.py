"""Pure frame decoders for serial RFID readers: bytes in, frames and reject counts out.

A decoder never raises on input bytes; every byte it throws away is counted by reason.
"""

from components.lib.frames.base import DecoderStats, TagRead

__all__ = ["DecoderStats", "TagRead"]
