"""Malformed input over a raw socket never ends the server; the real client works afterwards."""

from __future__ import annotations

import socket
import struct

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stream_manager import MessageStreamDefinition, StrategyOnFull
from stream_manager.data import ConnectRequest, UnknownOperationError, VersionInfo

from edge_sim.stream_manager import StreamManagerServer
from edge_sim.stream_manager import protocol as p

TOKEN = "fuzz-token"
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "name",
    "payload",
    "streamName",
    "definition",
    "readMessagesOptions",
    "maxSize",
    "strategyOnFull",
    "persistence",
    "exportDefinition",
    "kinesis",
    "batchSize",
    "minMessageCount",
    "maxMessageCount",
    "readTimeoutMillis",
    "desiredStartSequenceNumber",
]
requests = st.fixed_dictionaries(
    {"requestId": st.text(min_size=1, max_size=8)},
    optional={f: cbor_values for f in FIELDS}
    | {
        "name": st.sampled_from(["s1", "s2"]) | cbor_values,
        "streamName": st.sampled_from(["s1", "s2"]) | cbor_values,
        "definition": st.fixed_dictionaries(
            {"name": st.sampled_from(["s1", "s2"]), "strategyOnFull": st.sampled_from([0, 1])},
            optional={f: cbor_values for f in FIELDS if f not in ("name", "strategyOnFull")},
        ),
    },
)


def connect_payload(token: str = TOKEN) -> bytes:
    req = ConnectRequest(
        request_id="c1",
        protocol_version=VersionInfo.PROTOCOL_VERSION.value,
        sdk_version="1.1.2",
        auth_token=token,
    )
    return cbor2.dumps(req.as_dict())


def raw_frame(op: int, body: bytes) -> bytes:
    return struct.pack(">iB", len(body) + 1, op) + body


def exchange(port: int, data: bytes) -> bytes:
    """Send everything, half-close, and collect what the server says until it hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def answers(data: bytes) -> list[tuple[int, dict]]:
    """Split the server's bytes (after its version byte) into frames; all must be valid."""
    assert data[:1] == b"\x01"
    out, pos = [], 1
    while pos < len(data):
        op, length = p.parse_header(data[pos : pos + 5])
        out.append((op, p.decode_payload(data[pos + 5 : pos + 5 + length])))
        pos += 5 + length
    return out


def client_still_works(server: StreamManagerServer, connect) -> None:
    client = connect(server, token=TOKEN)
    name = f"alive{len(client.list_streams())}"
    client.create_message_stream(
        MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData)
    )
    assert client.append_message(name, b"ok") == 0


@given(header=st.binary(min_size=5, max_size=5))
def test_parse_header_accepts_or_names_the_fault(header):
    try:
        op, length = p.parse_header(header)
    except p.BadFrameLength:
        return
    assert 0 <= op <= 255 and 0 <= length <= p.DEFAULT_MAX_FRAME_BYTES


@given(payload=st.binary(max_size=200) | cbor_values.map(cbor2.dumps))
def test_decode_payload_accepts_or_names_the_fault(payload):
    try:
        value = p.decode_payload(payload)
    except p.BadPayload:
        return
    assert isinstance(value, dict)


def test_garbage_streams_do_not_kill_the_server(make_server, connect):
    server = make_server(auth_tokens={TOKEN})

    @FAST
    @given(data=st.binary(max_size=300))
    def check(data):
        exchange(server.port, data)

    check()
    client_still_works(server, connect)
    assert server.stats["internal_errors"] == 0


@pytest.mark.slow
def test_fuzzed_requests_after_a_valid_connect_get_answers(make_server, connect):
    server = make_server(auth_tokens={TOKEN})
    hello = b"\x01" + raw_frame(p.Op.CONNECT, connect_payload())

    @FAST
    @given(
        frames=st.lists(
            st.tuples(
                st.sampled_from(sorted(p.RESPONSE_FOR)) | st.integers(0, 255),
                requests.map(cbor2.dumps) | st.binary(max_size=60),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def check(frames):
        data = hello + b"".join(raw_frame(op, body) for op, body in frames)
        got = answers(exchange(server.port, data))
        assert got[0][0] == p.Op.CONNECT_RESPONSE and got[0][1]["status"] == 0
        for op, answer in got[1:]:
            assert p.Op.CONNECT_RESPONSE <= op <= p.Op.UNKNOWN_OPERATION_ERROR
            assert isinstance(answer["status"], int) and answer["requestId"]

    check()
    client_still_works(server, connect)
    assert server.stats["internal_errors"] == 0


def test_fuzzed_connect_requests_are_answered_or_refused(make_server, connect):
    server = make_server(auth_tokens={TOKEN})
    connects = st.fixed_dictionaries(
        {},
        optional={
            "requestId": st.text(max_size=8) | cbor_values,
            "authToken": st.just(TOKEN) | cbor_values,
            "protocolVersion": st.sampled_from(["1.1.0", "1.0.0", "9.9.9"]) | cbor_values,
            "otherSupportedProtocolVersions": st.lists(
                st.sampled_from(["1.0.0", "0.1"]) | cbor_values, max_size=3
            )
            | cbor_values,
            "sdkVersion": cbor_values,
        },
    )

    @FAST
    @given(
        version=st.sampled_from([1, 1, 1, 0, 2, 255]),
        request=connects,
        op=st.sampled_from([p.Op.CONNECT] * 3 + [p.Op.LIST_STREAMS, 200]),
    )
    def check(version, request, op):
        data = bytes([version]) + raw_frame(op, cbor2.dumps(request))
        [(answer_op, answer)] = answers(exchange(server.port, data))
        assert answer_op == p.Op.CONNECT_RESPONSE
        offered = request.get("protocolVersion")
        others = request.get("otherSupportedProtocolVersions")
        known = [
            v
            for v in [offered] + (others if isinstance(others, list) else [])
            if v in ("1.1.0", "1.0.0")
        ]
        should_accept = (
            version == 1
            and op == p.Op.CONNECT
            and isinstance(offered, str)
            and request.get("authToken") == TOKEN
            and bool(known)
        )
        assert (answer["status"] == p.Status.SUCCESS) == should_accept
        if should_accept:
            assert answer["protocolVersion"] == known[0]

    check()
    client_still_works(server, connect)
    assert server.stats["internal_errors"] == 0


def test_oversize_and_negative_lengths_close_only_that_connection(make_server, connect):
    server = make_server(auth_tokens={TOKEN})
    hello = b"\x01" + raw_frame(p.Op.CONNECT, connect_payload())
    for header in (
        struct.pack(">iB", 2**31 - 1, 4),
        struct.pack(">iB", -5, 4),
        struct.pack(">iB", 0, 4),
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(hello + header)  # no half-close: the server must hang up by itself
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert [op for op, _ in answers(data)] == [p.Op.CONNECT_RESPONSE]
    assert server.stats["bad_frames_bad_length"] == 3
    client_still_works(server, connect)


def test_unknown_operation_gets_unknown_operation_error(make_server):
    server = make_server(auth_tokens={TOKEN})
    body = cbor2.dumps({"requestId": "r-77"})
    data = b"\x01" + raw_frame(p.Op.CONNECT, connect_payload()) + raw_frame(99, body)
    [_, (op, answer)] = answers(exchange(server.port, data))
    assert op == p.Op.UNKNOWN_OPERATION_ERROR
    parsed = UnknownOperationError.from_dict(answer)  # the SDK's own reading of it
    assert parsed.request_id == "r-77"
    assert parsed.status.name == "UnknownOperation"


def test_bad_cbor_is_skipped_and_the_connection_goes_on(make_server):
    server = make_server(auth_tokens={TOKEN})
    good = cbor2.dumps({"requestId": "after"})
    data = (
        b"\x01"
        + raw_frame(p.Op.CONNECT, connect_payload())
        + raw_frame(p.Op.LIST_STREAMS, b"\xff\xff\xff")
        + raw_frame(p.Op.LIST_STREAMS, cbor2.dumps([1, 2]))
        + raw_frame(p.Op.LIST_STREAMS, good)
    )
    [_, (op, answer)] = answers(exchange(server.port, data))
    assert (op, answer["requestId"], answer["streams"]) == (p.Op.LIST_STREAMS_RESPONSE, "after", [])
    assert server.stats["bad_frames_bad_cbor"] == 2


def test_requests_before_connect_are_refused(make_server):
    server = make_server(auth_tokens={TOKEN})
    data = b"\x01" + raw_frame(p.Op.LIST_STREAMS, cbor2.dumps({"requestId": "early"}))
    [(op, answer)] = answers(exchange(server.port, data))
    assert op == p.Op.CONNECT_RESPONSE
    assert answer["status"] == p.Status.UNEXPECTED_OPERATION
