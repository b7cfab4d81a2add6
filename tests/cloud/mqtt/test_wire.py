"""MQTT 3.1.1 framing of our clients (load publishers, the rules bridge): the spec's vectors,
splitting and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.mqtt import wire

# OASIS MQTT 3.1.1, Table 2.4: the bounds of each remaining-length size.
SPEC_LENGTHS = [
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (16_383, "ff7f"),
    (16_384, "808001"),
    (2_097_151, "ffff7f"),
    (2_097_152, "80808001"),
    (268_435_455, "ffffff7f"),
]


@pytest.mark.parametrize(("n", "hex_bytes"), SPEC_LENGTHS)
def test_remaining_length_matches_the_spec(n: int, hex_bytes: str) -> None:
    assert wire.remaining_length(n).hex() == hex_bytes


def test_remaining_length_out_of_range() -> None:
    with pytest.raises(ValueError):
        wire.remaining_length(268_435_456)


def test_connect_packet_layout() -> None:
    # Section 3.1: fixed header, "MQTT", level 4, clean session, keepalive, client id.
    packet = wire.connect_packet("dev-1", keepalive_s=60)
    assert packet == bytes.fromhex("1011 0004 4d515454 04 02 003c 0005") + b"dev-1"


def test_publish_packet_layout() -> None:
    packet = wire.publish_packet("a/b", b"xyz", packet_id=10, qos=1)
    assert packet == bytes.fromhex("320a 0003") + b"a/b" + bytes.fromhex("000a") + b"xyz"
    assert wire.publish_packet("a/b", b"", qos=0) == bytes.fromhex("3005 0003") + b"a/b"


def test_connack_and_puback() -> None:
    reader = wire.PacketReader()
    connack, puback = reader.feed(bytes.fromhex("20020005") + bytes.fromhex("40020102"))
    assert wire.connack_code(connack) == 5
    assert wire.puback_id(puback) == 0x0102
    with pytest.raises(wire.MqttWireError):
        wire.puback_id(connack)


def test_rejects_reserved_types_and_long_lengths() -> None:
    with pytest.raises(wire.MqttWireError):
        wire.PacketReader().feed(b"\x00\x00")
    with pytest.raises(wire.MqttWireError):
        wire.PacketReader().feed(b"\x40\xff\xff\xff\xff\x01")
    with pytest.raises(wire.MqttWireError):
        wire.PacketReader(max_packet_bytes=10).feed(b"\x40\x0b")


packets = st.tuples(st.integers(1, 14), st.integers(0, 15), st.binary(max_size=300))


@given(st.lists(packets, max_size=8), st.lists(st.integers(1, 50), max_size=20))
def test_split_anywhere_gives_the_same_packets(
    specs: list[tuple[int, int, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(
        bytes(((kind << 4) | flags,)) + wire.remaining_length(len(body)) + body
        for kind, flags, body in specs
    )
    reader, got, pos = wire.PacketReader(), [], 0
    for cut in cuts:
        got += reader.feed(stream[pos : pos + cut])
        pos += cut
    got += reader.feed(stream[pos:])
    assert [(p.kind, p.flags, p.body) for p in got] == specs


@given(st.binary(max_size=200))
def test_garbage_is_rejected_by_name_or_awaited(data: bytes) -> None:
    reader = wire.PacketReader(max_packet_bytes=100)
    try:
        for packet in reader.feed(data):
            assert 1 <= packet.kind <= 14
    except wire.MqttWireError as exc:
        assert isinstance(exc.evidence, bytes)


def test_subscribe_packet_layout() -> None:
    # Section 3.8.3.1's example payload: "a/b" at QoS 1, "c/d" at QoS 2, packet id 10.
    packet = wire.subscribe_packet(10, [("a/b", 1), ("c/d", 2)])
    body = bytes.fromhex("000a 0003") + b"a/b" + b"\x01" + bytes.fromhex("0003") + b"c/d" + b"\x02"
    assert packet == bytes((0x82, len(body))) + body  # flags 0b0010 (section 3.8.1)
    with pytest.raises(ValueError):
        wire.subscribe_packet(10, [])
    with pytest.raises(ValueError):
        wire.subscribe_packet(0, [("a", 1)])


def test_suback_and_puback_packets() -> None:
    # The return codes of section 3.9.3: QoS 0, 1, 2 granted, 0x80 failure.
    (suback,) = wire.PacketReader().feed(bytes.fromhex("9006 000a 00010280"))
    assert wire.suback_codes(suback) == (10, [0, 1, 2, 0x80])
    assert wire.puback_packet(0x0102) == bytes.fromhex("4002 0102")
    with pytest.raises(wire.MqttWireError):
        wire.suback_codes(wire.Packet(wire.SUBACK, 0, b"\x00"))


@given(st.text(min_size=1, max_size=40), st.binary(max_size=300), st.integers(0, 1),
       st.integers(1, 0xFFFF))  # fmt: skip
def test_publish_parts_read_back_what_publish_packet_wrote(
    topic: str, payload: bytes, qos: int, packet_id: int
) -> None:
    (packet,) = wire.PacketReader().feed(wire.publish_packet(topic, payload, packet_id, qos=qos))
    assert wire.publish_parts(packet) == (topic, qos, packet_id if qos else 0, payload)


@pytest.mark.parametrize(
    ("flags", "body"),
    [(0b0110, b"\x00\x01a"), (0, b"\x00"), (0b0010, b"\x00\x01a\x00"), (0, b"\x00\x02\xff\xfe")],
    ids=["qos 3", "no topic length", "no packet id", "topic not utf-8"],
)
def test_malformed_publish_is_named(flags: int, body: bytes) -> None:
    with pytest.raises(wire.MqttWireError):
        wire.publish_parts(wire.Packet(wire.PUBLISH, flags, body))
