"""Event-stream framing from bytes alone: reference vectors, round trips, corruption, chunking."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sim.nucleus import eventstream as es

# Vectors from the reference implementation's test-suite (aws-c-event-stream):
# an empty message, and a 13-byte payload with no headers.
EMPTY_MESSAGE = bytes.fromhex("000000100000000005c248eb7d98c8ff")
FOO_BAR_MESSAGE = bytes.fromhex("0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936")

names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=20
).filter(lambda n: len(n.encode()) <= es.MAX_HEADER_NAME_BYTES)


@st.composite
def headers(draw: st.DrawFn) -> es.Header:
    name = draw(names)
    kind = draw(st.sampled_from(list(es.HeaderType)))
    value: es.HeaderValue
    if kind == es.HeaderType.BOOL_TRUE:
        value = True
    elif kind == es.HeaderType.BOOL_FALSE:
        value = False
    elif kind == es.HeaderType.BYTE:
        value = draw(st.integers(-128, 127))
    elif kind == es.HeaderType.INT16:
        value = draw(st.integers(-(2**15), 2**15 - 1))
    elif kind == es.HeaderType.INT32:
        value = draw(st.integers(-(2**31), 2**31 - 1))
    elif kind in (es.HeaderType.INT64, es.HeaderType.TIMESTAMP):
        value = draw(st.integers(-(2**63), 2**63 - 1))
    elif kind == es.HeaderType.BYTES:
        value = draw(st.binary(max_size=64))
    elif kind == es.HeaderType.STRING:
        value = draw(st.text(max_size=64))
    else:
        value = uuid.UUID(bytes=draw(st.binary(min_size=16, max_size=16)))
    return es.Header(name, kind, value)


messages = st.builds(
    lambda hs, payload: (tuple(hs), payload),
    st.lists(headers(), max_size=8),
    st.binary(max_size=512),
)


def test_reference_vectors() -> None:
    assert es.encode([], b"") == EMPTY_MESSAGE
    assert es.encode([], b"{'foo':'bar'}") == FOO_BAR_MESSAGE
    assert es.decode(FOO_BAR_MESSAGE).payload == b"{'foo':'bar'}"
    assert es.decode(EMPTY_MESSAGE) == es.Message((), b"")


def test_header_wire_layout() -> None:
    frame = es.encode([es.int32_header(":stream-id", 7), es.string_header("op", "x")])
    (headers_len,) = struct.unpack(">I", frame[4:8])
    block = frame[12 : 12 + headers_len]
    expected = b"\x0a:stream-id\x04\x00\x00\x00\x07" + b"\x02op\x07\x00\x01x"
    assert block == expected


@given(messages)
def test_round_trip(message: tuple[tuple[es.Header, ...], bytes]) -> None:
    hs, payload = message
    decoded = es.decode(es.encode(hs, payload))
    assert decoded.headers == hs
    assert decoded.payload == payload


@given(messages, st.data())
def test_any_single_bit_flip_is_detected(
    message: tuple[tuple[es.Header, ...], bytes], data: st.DataObject
) -> None:
    frame = bytearray(es.encode(*message))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(es.FrameError):
        es.decode(bytes(frame))


@given(st.lists(messages, min_size=1, max_size=5), st.data())
def test_chunked_feed_equals_whole(
    batch: list[tuple[tuple[es.Header, ...], bytes]], data: st.DataObject
) -> None:
    stream = b"".join(es.encode(*m) for m in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = es.FrameDecoder()
    out: list[es.Message] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        out += decoder.feed(stream[start:cut])
        start = cut
    assert decoder.failed is None and decoder.pending_bytes == 0
    assert [(m.headers, m.payload) for m in out] == batch


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_from_the_stream_decoder(data: bytes) -> None:
    decoder = es.FrameDecoder(max_message_bytes=4096)
    decoder.feed(data)
    if decoder.failed is not None:
        assert isinstance(decoder.failed, es.FrameError)
        assert decoder.feed(EMPTY_MESSAGE) == []  # poisoned: cannot resync


def test_named_errors_carry_evidence() -> None:
    bad_prelude = bytearray(EMPTY_MESSAGE)
    bad_prelude[8] ^= 0xFF
    with pytest.raises(es.PreludeChecksumError) as prelude_info:
        es.decode(bytes(bad_prelude))
    assert prelude_info.value.reason == "prelude_crc" and prelude_info.value.evidence

    bad_body = bytearray(FOO_BAR_MESSAGE)
    bad_body[14] ^= 0x01
    with pytest.raises(es.MessageChecksumError):
        es.decode(bytes(bad_body))

    prelude = struct.pack(">II", 20 * 1024 * 1024, 0)
    huge = prelude + struct.pack(">I", zlib.crc32(prelude))
    decoder = es.FrameDecoder()
    assert decoder.feed(huge) == []
    assert isinstance(decoder.failed, es.FrameTooLarge)

    # Headers claiming more bytes than the message holds.
    prelude = struct.pack(">II", 16, 5)
    lying = prelude + struct.pack(">I", zlib.crc32(prelude))
    lying += struct.pack(">I", zlib.crc32(lying))
    with pytest.raises(es.HeaderError):
        es.decode(lying)


def test_unknown_header_type_is_rejected() -> None:
    block = b"\x01a\x0a"  # type 10 does not exist
    prelude = struct.pack(">II", 12 + len(block) + 4, len(block))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + block
    with pytest.raises(es.HeaderError, match="unknown header type 10"):
        es.decode(body + struct.pack(">I", zlib.crc32(body)))


def test_message_header_lookup_is_case_insensitive() -> None:
    message = es.decode(es.encode([es.string_header("Service-Model-Type", "x")]))
    assert message.get("service-model-type") == "x"
    assert message.get("missing", "default") == "default"
