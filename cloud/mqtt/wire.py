"""The few MQTT 3.1.1 packets our own clients need, as bytes. Pure: no sockets.

A publisher (edge_sim's load clients) writes CONNECT, PUBLISH (QoS 0/1), PINGREQ and
DISCONNECT, and reads CONNACK, PUBACK and PINGRESP; a subscriber (the cloud's rules bridge)
also writes SUBSCRIBE and PUBACK and reads SUBACK and PUBLISH. `PacketReader` splits the
broker's byte stream into packets and rejects what is not well-formed MQTT (OASIS MQTT 3.1.1,
section 2: fixed header, remaining length).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
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


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    """SUBSCRIBE (section 3.8): fixed header flags 0b0010, then the filters with their QoS."""
    if not 1 <= packet_id <= 0xFFFF:
        raise ValueError(f"packet id {packet_id} out of range")
    if not filters or any(qos not in (0, 1, 2) for _, qos in filters):
        raise ValueError("SUBSCRIBE needs at least one filter, each with QoS 0, 1 or 2")
    body = struct.pack("!H", packet_id) + b"".join(_utf8(f) + bytes((q,)) for f, q in filters)
    return bytes(((SUBSCRIBE << 4) | 0x02,)) + remaining_length(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    return bytes((PUBACK << 4, 2)) + struct.pack("!H", packet_id)


def suback_codes(packet: Packet) -> tuple[int, list[int]]:
    """(packet id, return code per filter): 0-2 the QoS granted, 0x80 refused."""
    if packet.kind != SUBACK or len(packet.body) < 3 or packet.flags:
        raise MqttWireError("malformed SUBACK", packet.body)
    return int.from_bytes(packet.body[:2], "big"), list(packet.body[2:])


def publish_parts(packet: Packet) -> tuple[str, int, int, bytes]:
    """(topic, QoS, packet id (0 for QoS 0), payload) of a PUBLISH (section 3.3)."""
    body = packet.body
    qos = (packet.flags >> 1) & 0x03
    if packet.kind != PUBLISH or qos == 3 or len(body) < 2:
        raise MqttWireError("malformed PUBLISH", body[:16])
    end = 2 + int.from_bytes(body[:2], "big")
    if len(body) < end + (2 if qos else 0):
        raise MqttWireError("PUBLISH shorter than its topic", body[:16])
    try:
        topic = body[2:end].decode()
    except UnicodeDecodeError:
        raise MqttWireError("PUBLISH topic is not UTF-8", body[:16]) from None
    if not qos:
        return topic, 0, 0, body[end:]
    return topic, qos, int.from_bytes(body[end : end + 2], "big"), body[end + 2 :]


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
        at = 0
        try:
            while True:
                packet, at = self._next(at)
                if packet is None:
                    return out
                out.append(packet)
        finally:
            del self._buf[:at]  # once per feed: a chunk may hold hundreds of packets

    def _next(self, at: int) -> tuple[Packet | None, int]:
        buf = self._buf
        if len(buf) - at < 2:
            return None, at
        first = buf[at]
        kind = first >> 4
        if kind == 0 or kind == 15:
            raise MqttWireError(f"reserved packet type {kind}", bytes(buf[at : at + 8]))
        length, multiplier, pos = 0, 1, at + 1
        while True:
            if pos >= len(buf):
                return None, at  # the length itself is not complete yet
            digit = buf[pos]
            length += (digit & 0x7F) * multiplier
            pos += 1
            if not digit & 0x80:
                break
            if pos - at > 4:
                raise MqttWireError(
                    "remaining length longer than four bytes", bytes(buf[at : at + 8])
                )
            multiplier *= 128
        if length > self.max_packet_bytes:
            raise MqttWireError(
                f"packet of {length} bytes exceeds the limit", bytes(buf[at : at + 8])
            )
        if len(buf) < pos + length:
            return None, at
        return Packet(kind, first & 0x0F, bytes(buf[pos : pos + length])), pos + length
