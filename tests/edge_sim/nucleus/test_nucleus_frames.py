"""Malformed and hostile input on the IPC socket: each bad connection is answered or dropped,
and the server keeps serving a real client afterwards."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import awsiot.greengrasscoreipc as ggipc
import pytest
from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nucleus_world import SENSORS, SENSORS_ACL, TOKENS, UPLINK
from waiting import wait_for

from edge_sim.nucleus import eventstream as es
from edge_sim.nucleus import rpc
from edge_sim.nucleus.cloud import InMemoryCloud
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.ipc_server import NucleusServer

MT = rpc.MessageType


class RawClient:
    """A bare socket speaking bytes; reads answers with a plain decoder."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.decoder = es.FrameDecoder()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_closed(self) -> list[es.Message]:
        """Every message the server sends until it closes the connection."""
        out: list[es.Message] = []
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return out
            out += self.decoder.feed(chunk)

    def read_one(self) -> es.Message:
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed before answering"
            messages = self.decoder.feed(chunk)
            if messages:
                return messages[0]

    def close(self) -> None:
        self.sock.close()


def connect_frame(token: str = TOKENS[SENSORS], version: str = rpc.PROTOCOL_VERSION) -> bytes:
    headers = rpc.envelope(MT.CONNECT, 0) + [es.string_header(rpc.VERSION, version)]
    return es.encode(headers, json.dumps({"authToken": token}).encode())


def request_frame(stream_id: int, operation: str, body: dict[str, Any]) -> bytes:
    headers = rpc.envelope(MT.APPLICATION_MESSAGE, stream_id) + [
        es.string_header(rpc.OPERATION, operation),
        es.string_header(rpc.SERVICE_MODEL_TYPE, operation + "Request"),
        es.string_header(rpc.CONTENT_TYPE, rpc.CONTENT_TYPE_JSON),
    ]
    return es.encode(headers, json.dumps(body).encode())


def message_type(message: es.Message) -> MT:
    return MT(message.get(rpc.MESSAGE_TYPE))


@pytest.fixture
def raw(server: NucleusServer) -> Iterator[Callable[[], RawClient]]:
    opened: list[RawClient] = []

    def make() -> RawClient:
        client = RawClient(server.socket_path)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def handshake(client: RawClient) -> None:
    client.send(connect_frame())
    ack = client.read_one()
    assert message_type(ack) == MT.CONNECT_ACK
    assert ack.get(rpc.MESSAGE_FLAGS) == rpc.Flags.CONNECTION_ACCEPTED


def still_serves_real_client(connect: Callable[[str], Any]) -> None:
    client = connect(SENSORS)
    value = client.get_configuration(key_path=["sampleIntervalSeconds"]).value
    assert value == {"sampleIntervalSeconds": 5}


def corrupt(frame: bytes, index: int) -> bytes:
    data = bytearray(frame)
    data[index] ^= 0x5A
    return bytes(data)


@pytest.mark.parametrize(
    ("label", "make_bytes", "reason"),
    [
        ("prelude CRC", lambda: corrupt(connect_frame(), 9), "prelude_crc"),
        ("message CRC", lambda: corrupt(connect_frame(), 20), "message_crc"),
        (
            "oversize length",
            lambda: (lambda p: p + struct.pack(">I", zlib.crc32(p)))(
                struct.pack(">II", 64 * 1024 * 1024, 0)
            ),
            "oversize",
        ),
        ("garbage", lambda: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "prelude_crc"),
    ],
)
def test_bad_frames_get_a_protocol_error_then_close(
    raw: Callable[[], RawClient],
    connect: Callable[[str], Any],
    server: NucleusServer,
    label: str,
    make_bytes: Callable[[], bytes],
    reason: str,
) -> None:
    client = raw()
    client.send(make_bytes())
    answers = client.read_until_closed()
    assert [message_type(m) for m in answers] == [MT.PROTOCOL_ERROR], label
    assert server.counters[f"frame_error_{reason}"] == 1
    still_serves_real_client(connect)


def test_bad_frame_after_handshake_closes_only_that_connection(
    raw: Callable[[], RawClient], connect: Callable[[str], Any], server: NucleusServer
) -> None:
    bystander = connect(SENSORS)
    client = raw()
    handshake(client)
    client.send(corrupt(request_frame(1, "aws.greengrass#GetConfiguration", {}), 30))
    assert [message_type(m) for m in client.read_until_closed()] == [MT.PROTOCOL_ERROR]
    assert bystander.get_configuration(key_path=["sampleIntervalSeconds"]).value


@pytest.mark.parametrize(
    ("label", "frames"),
    [
        ("request before CONNECT", [request_frame(1, "aws.greengrass#GetConfiguration", {})]),
        ("CONNECT twice", [connect_frame(), connect_frame()]),
        ("no message type", [es.encode([es.string_header("x", "y")])]),
        ("message type as string", [es.encode([es.string_header(rpc.MESSAGE_TYPE, "4")])]),
        (
            "unknown message type",
            [es.encode(rpc.envelope(MT.CONNECT, 0)[1:] + [es.int32_header(rpc.MESSAGE_TYPE, 99)])],
        ),
    ],
)
def test_rpc_rule_violations_get_a_protocol_error(
    raw: Callable[[], RawClient], connect: Callable[[str], Any], label: str, frames: list[bytes]
) -> None:
    client = raw()
    client.send(b"".join(frames))
    kinds = [message_type(m) for m in client.read_until_closed()]
    assert kinds[-1] == MT.PROTOCOL_ERROR, label
    still_serves_real_client(connect)


def test_raw_request_round_trip_and_stream_rules(
    raw: Callable[[], RawClient], server: NucleusServer
) -> None:
    client = raw()
    handshake(client)
    client.send(request_frame(1, "aws.greengrass#GetConfiguration", {"keyPath": ["chips"]}))
    answer = client.read_one()
    assert message_type(answer) == MT.APPLICATION_MESSAGE
    assert answer.get(rpc.STREAM_ID) == 1
    assert answer.get(rpc.MESSAGE_FLAGS) == rpc.Flags.TERMINATE_STREAM
    assert answer.get(rpc.SERVICE_MODEL_TYPE) == "aws.greengrass#GetConfigurationResponse"
    assert json.loads(answer.payload)["value"]["bme280"]["address"] == "0x76"
    # Wrong model type for the operation: an application error on that stream only.
    frame = es.encode(
        rpc.envelope(MT.APPLICATION_MESSAGE, 2)
        + [
            es.string_header(rpc.OPERATION, "aws.greengrass#GetConfiguration"),
            es.string_header(rpc.SERVICE_MODEL_TYPE, "aws.greengrass#Nope"),
        ],
        b"{}",
    )
    client.send(frame)
    error = client.read_one()
    assert message_type(error) == MT.APPLICATION_ERROR
    assert error.get(rpc.SERVICE_MODEL_TYPE) == "aws.greengrass#InvalidArgumentsError"
    # Not JSON.
    client.send(
        es.encode(
            rpc.envelope(MT.APPLICATION_MESSAGE, 3)
            + [
                es.string_header(rpc.OPERATION, "aws.greengrass#GetConfiguration"),
                es.string_header(rpc.SERVICE_MODEL_TYPE, "aws.greengrass#GetConfigurationRequest"),
            ],
            b"\xff{",
        )
    )
    assert client.read_one().get(rpc.SERVICE_MODEL_TYPE) == "aws.greengrass#InvalidArgumentsError"
    # A ping is answered.
    client.send(es.encode(rpc.envelope(MT.PING, 0), b"hi"))
    pong = client.read_one()
    assert message_type(pong) == MT.PING_RESPONSE and pong.payload == b"hi"
    # A reused (old) stream id is ignored, not answered.
    client.send(request_frame(2, "aws.greengrass#GetConfiguration", {}))
    client.send(request_frame(9, "aws.greengrass#GetConfiguration", {}))
    assert client.read_one().get(rpc.STREAM_ID) == 9
    assert server.counters["late_messages"] == 1


@pytest.mark.slow
def test_refused_connection_is_closed_by_the_server_if_the_client_lingers(
    raw: Callable[[], RawClient], server: NucleusServer
) -> None:
    client = raw()
    client.send(connect_frame(token="wrong"))
    answers = client.read_until_closed()  # returns once the server's grace period ends
    assert [message_type(m) for m in answers] == [MT.CONNECT_ACK]
    assert answers[0].get(rpc.MESSAGE_FLAGS) == 0


def test_truncated_frame_then_disconnect_is_cleaned_up(
    raw: Callable[[], RawClient], connect: Callable[[str], Any], server: NucleusServer
) -> None:
    client = raw()
    client.send(connect_frame()[:10])
    client.close()
    still_serves_real_client(connect)


# The fuzzers share one server across all their examples, and the last test checks that a real
# client is still served by it: the server must survive everything thrown at it.
@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[NucleusServer]:
    path = tempfile.mkdtemp(prefix="gz", dir="/tmp")
    store = ConfigStore()
    store.set_component(SENSORS, {"sampleIntervalSeconds": 5})
    srv = NucleusServer(
        os.path.join(path, "f.sock"),
        components={SENSORS: (TOKENS[SENSORS], SENSORS_ACL)},
        config_store=store,
        cloud=InMemoryCloud(),
    )
    srv.start()
    yield srv
    srv.stop()
    shutil.rmtree(path, ignore_errors=True)


fuzz_settings = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def alive(server: NucleusServer) -> None:
    """A fresh connection still gets a correct answer."""
    client = RawClient(server.socket_path)
    try:
        handshake(client)
        client.send(request_frame(1, "aws.greengrass#GetConfiguration", {}))
        answer = client.read_one()
        assert json.loads(answer.payload)["value"] == {"sampleIntervalSeconds": 5}
    finally:
        client.close()


@fuzz_settings
@given(garbage=st.binary(min_size=1, max_size=4096), after_handshake=st.booleans())
def test_fuzz_random_bytes(
    fuzz_server: NucleusServer, garbage: bytes, after_handshake: bool
) -> None:
    client = RawClient(fuzz_server.socket_path)
    try:
        if after_handshake:
            handshake(client)
        client.send(garbage)
    finally:
        client.close()
    alive(fuzz_server)


header_values = st.one_of(
    st.builds(
        es.int32_header,
        st.sampled_from([rpc.MESSAGE_TYPE, rpc.MESSAGE_FLAGS, rpc.STREAM_ID]),
        st.integers(-3, 12),
    ),
    st.builds(
        es.string_header,
        st.sampled_from([rpc.OPERATION, rpc.SERVICE_MODEL_TYPE, rpc.CONTENT_TYPE, "x"]),
        st.sampled_from(
            [
                "aws.greengrass#GetConfiguration",
                "aws.greengrass#GetConfigurationRequest",
                "aws.greengrass#SubscribeToTopic",
                "aws.greengrass#SubscribeToTopicRequest",
                "aws.greengrass#PublishToIoTCore",
                "aws.greengrass#UpdateStateRequest",
                "",
                "?",
            ]
        ),
    ),
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda d: json.dumps(d).encode(),
        st.dictionaries(
            st.sampled_from(["keyPath", "topic", "topicName", "qos", "state", "payload"]),
            st.one_of(st.text(max_size=8), st.integers(), st.lists(st.text(max_size=4)), st.none()),
            max_size=3,
        ),
    ),
)


@fuzz_settings
@given(st.lists(st.tuples(st.lists(header_values, max_size=6), payloads), min_size=1, max_size=6))
def test_fuzz_well_framed_rpc_messages(
    fuzz_server: NucleusServer, frames: list[tuple[list[es.Header], bytes]]
) -> None:
    client = RawClient(fuzz_server.socket_path)
    try:
        handshake(client)
        client.send(b"".join(es.encode(h, p) for h, p in frames))
    finally:
        client.close()
    alive(fuzz_server)


def test_after_fuzzing_a_real_client_is_served(fuzz_server: NucleusServer) -> None:
    raw_client = ggipc.connect(
        ipc_socket=fuzz_server.socket_path, authtoken=TOKENS[SENSORS], timeout=5
    )
    client = GreengrassCoreIPCClientV2(client=raw_client)
    try:
        assert client.get_configuration().value == {"sampleIntervalSeconds": 5}
    finally:
        client.close()
    stats = fuzz_server.stats()
    assert stats.get("internal_errors", 0) == 0
    assert stats["connections"] > 100  # the fuzzers really did reach this server


def test_a_subscriber_that_stops_reading_is_bounded(
    raw: Callable[[], RawClient], connect: Callable[[str], Any], server: NucleusServer
) -> None:
    stalled = raw()
    handshake(stalled)
    stalled.send(request_frame(1, "aws.greengrass#SubscribeToTopic", {"topic": "floorline/live/#"}))
    assert stalled.read_one().get(rpc.SERVICE_MODEL_TYPE).endswith("SubscribeToTopicResponse")
    # Another component: a wildcard subscription without receiveMode does not hear its own.
    publisher = connect(UPLINK)
    blob = model.PublishMessage(binary_message=model.BinaryMessage(message=b"\x00" * 100_000))
    for _ in range(120):  # ~16 MB of events once base64-encoded; the reader never reads
        publisher.publish_to_topic(topic="floorline/live/x", publish_message=blob)
    wait_for(
        lambda: server.counters["events_dropped_slow_reader"] > 0,
        what="events dropped for the slow reader",
    )
    assert server.counters["events_sent"] < 120
    still_serves_real_client(connect)
