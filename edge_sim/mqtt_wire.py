"""The few MQTT 3.1.1 packets a load-generating client needs, as bytes. Pure: no sockets.

A publisher writes CONNECT, PUBLISH (QoS 0/1), PINGREQ and DISCONNECT, and reads CONNACK,
PUBACK and PINGRESP. `PacketReader` splits the broker's byte stream into packets and rejects
what is not well-formed MQTT (OASIS MQTT 3.1.1, section 2: fixed header, remaining length).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14

MAX_REMAINING_LENGTH: Final = 268_435_455  # four length bytes, 7 bits each
PINGREQ_PACKET: Final = bytes((PINGREQ << 4, 0))
DISCONNECT_PACKET: Final = bytes((DISCONNECT << 4, 0))

CONNACK_REASONS: Final = {
    0: "accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class MqttWireError(ValueError):
    """Bytes from the broker that are not valid MQTT 3.1.1; `.evidence` holds them."""

    def __init__(self, message: str, evidence: bytes = b"") -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True, slots=True)
class Packet:
    kind: int  # packet type (upper nibble of the first byte)
    flags: int  # lower nibble
    body: bytes  # variable header and payload


def remaining_length(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise ValueError(f"string of {len(raw)} bytes is longer than MQTT allows")
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, keepalive_s: int = 60, clean_session: bool = True) -> bytes:
    """CONNECT without user name or password: the client certificate is the identity."""
    if not 0 <= keepalive_s <= 0xFFFF:
        raise ValueError(f"keepalive {keepalive_s} s out of range")
    flags = 0x02 if clean_session else 0x00
    body = _utf8("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive_s) + _utf8(client_id)
    return bytes((CONNECT << 4,)) + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int = 0, qos: int = 1) -> bytes:
    if qos not in (0, 1):
        raise ValueError("only QoS 0 and 1 are supported")
    if qos and not 1 <= packet_id <= 0xFFFF:
        raise ValueError(f"packet id {packet_id} out of range")
    header = _utf8(topic) + (struct.pack("!H", packet_id) if qos else b"")
    length = len(header) + len(payload)
    return bytes(((PUBLISH << 4) | (qos << 1),)) + remaining_length(length) + header + payload


def connack_code(packet: Packet) -> int:
    """The CONNACK return code (0 = accepted)."""
    if packet.kind != CONNACK or len(packet.body) != 2 or packet.body[0] & 0xFE:
        raise MqttWireError("malformed CONNACK", packet.body)
    return packet.body[1]


def puback_id(packet: Packet) -> int:
    if packet.kind != PUBACK or len(packet.body) != 2 or packet.flags:
        raise MqttWireError("malformed PUBACK", packet.body)
    return int.from_bytes(packet.body, "big")


class PacketReader:
    """Incremental splitter: `feed(bytes)` returns the packets completed so far.

    `max_packet_bytes` bounds what a client agrees to buffer: a broker answering a publisher
    sends only tiny packets, so anything larger is treated as garbage, not awaited.
    """

    def __init__(self, max_packet_bytes: int = 1 << 20) -> None:
        self.max_packet_bytes = max_packet_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        self._buf += data
        out: list[Packet] = []
        while True:
            packet = self._next()
            if packet is None:
                return out
            out.append(packet)

    def _next(self) -> Packet | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        first = buf[0]
        kind = first >> 4
        if kind == 0 or kind == 15:
            raise MqttWireError(f"reserved packet type {kind}", bytes(buf[:8]))
        length, multiplier, pos = 0, 1, 1
        while True:
            if pos >= len(buf):
                return None  # the length itself is not complete yet
            digit = buf[pos]
            length += (digit & 0x7F) * multiplier
            pos += 1
            if not digit & 0x80:
                break
            if pos > 4:
                raise MqttWireError("remaining length longer than four bytes", bytes(buf[:8]))
            multiplier *= 128
        if length > self.max_packet_bytes:
            raise MqttWireError(f"packet of {length} bytes exceeds the limit", bytes(buf[:8]))
        if len(buf) < pos + length:
            return None
        body = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        return Packet(kind, first & 0x0F, body)
