"""Every Stream Manager operation, driven by the real `stream-manager` SDK client."""

from __future__ import annotations

import threading
import time

import pytest
from stream_manager import (
    MessageStreamDefinition,
    Persistence,
    ReadMessagesOptions,
    StrategyOnFull,
)
from stream_manager.exceptions import (
    ConnectFailedException,
    InvalidRequestException,
    NotEnoughMessagesException,
    RequestPayloadTooLargeException,
    ResourceNotFoundException,
    UpdateNotAllowedException,
    ValidationException,
)

from components.core.clock import ManualClock


def define(name: str = "env", **kwargs) -> MessageStreamDefinition:
    kwargs.setdefault("strategy_on_full", StrategyOnFull.OverwriteOldestData)
    return MessageStreamDefinition(name=name, **kwargs)


def test_create_list_describe_delete(client):
    assert client.list_streams() == []
    client.create_message_stream(define("a", max_size=4096, persistence=Persistence.Memory))
    client.create_message_stream(define("b"))
    assert client.list_streams() == ["a", "b"]
    info = client.describe_message_stream("a")
    assert info.definition.name == "a"
    assert info.definition.max_size == 4096
    assert info.definition.persistence == Persistence.Memory
    assert info.definition.strategy_on_full == StrategyOnFull.OverwriteOldestData
    assert info.storage_status.total_bytes == 0
    assert info.storage_status.newest_sequence_number is None
    client.delete_message_stream("a")
    assert client.list_streams() == ["b"]


def test_create_twice_is_invalid(client):
    client.create_message_stream(define("dup"))
    with pytest.raises(InvalidRequestException, match="already exists"):
        client.create_message_stream(define("dup"))


def test_unknown_stream_is_not_found(client):
    for call in (
        lambda: client.append_message("nope", b"x"),
        lambda: client.read_messages("nope"),
        lambda: client.describe_message_stream("nope"),
        lambda: client.delete_message_stream("nope"),
        lambda: client.update_message_stream(define("nope")),
    ):
        with pytest.raises(ResourceNotFoundException):
            call()


def test_append_numbers_from_zero_and_read_options(client):
    client.create_message_stream(define())
    seqs = [client.append_message("env", f"m{i}".encode()) for i in range(10)]
    assert seqs == list(range(10))
    # No options: one message from the start.
    [first] = client.read_messages("env")
    assert (first.sequence_number, first.payload, first.stream_name) == (0, b"m0", "env")
    assert first.ingest_time > 0
    got = client.read_messages(
        "env",
        ReadMessagesOptions(
            desired_start_sequence_number=3, min_message_count=2, max_message_count=4
        ),
    )
    assert [m.sequence_number for m in got] == [3, 4, 5, 6]
    assert [m.payload for m in got] == [b"m3", b"m4", b"m5", b"m6"]
    # Fewer than min available and no wait: NotEnoughMessages.
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages(
            "env", ReadMessagesOptions(desired_start_sequence_number=8, min_message_count=3)
        )
    info = client.describe_message_stream("env")
    assert info.storage_status.oldest_sequence_number == 0
    assert info.storage_status.newest_sequence_number == 9


def test_read_waits_for_appends_until_timeout(client, connect, server):
    client.create_message_stream(define())
    writer = connect(server)

    def append_later():
        time.sleep(0.2)
        for i in range(3):
            writer.append_message("env", bytes([i]))

    t = threading.Thread(target=append_later)
    t.start()
    got = client.read_messages(
        "env",
        ReadMessagesOptions(min_message_count=3, max_message_count=10, read_timeout_millis=5000),
    )
    t.join()
    assert [m.payload for m in got] == [b"\x00", b"\x01", b"\x02"]
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages(
            "env", ReadMessagesOptions(desired_start_sequence_number=3, read_timeout_millis=100)
        )


def test_wrong_or_missing_token_refused(server, connect):
    with pytest.raises(ConnectFailedException):
        connect(server, token="not-the-token")
    with pytest.raises(ConnectFailedException):
        connect(server, token=None)
    assert server.stats["connect_refused"] == 2
    connect(server).list_streams()  # the right token still works


def test_token_added_later_is_accepted(server, connect):
    with pytest.raises(ConnectFailedException):
        connect(server, token="second-component")
    server.add_token("second-component")
    assert connect(server, token="second-component").list_streams() == []


def test_reject_new_data_when_full(client):
    client.create_message_stream(
        define("full", max_size=1024, strategy_on_full=StrategyOnFull.RejectNewData)
    )
    accepted = 0
    with pytest.raises(InvalidRequestException, match="full"):
        for _ in range(100):
            client.append_message("full", b"x" * 100)
            accepted += 1
    assert 0 < accepted < 100
    info = client.describe_message_stream("full")
    assert info.storage_status.total_bytes <= 1024
    assert info.storage_status.oldest_sequence_number == 0
    assert info.storage_status.newest_sequence_number == accepted - 1
    # The data already there is untouched.
    got = client.read_messages("full", ReadMessagesOptions(max_message_count=accepted))
    assert [m.sequence_number for m in got] == list(range(accepted))


def test_overwrite_oldest_data_when_full(client):
    client.create_message_stream(define("ring", max_size=1024))
    for i in range(100):
        assert client.append_message("ring", i.to_bytes(2, "big") * 50) == i
    info = client.describe_message_stream("ring")
    status = info.storage_status
    assert status.total_bytes <= 1024
    assert status.newest_sequence_number == 99
    assert 0 < status.oldest_sequence_number < 99
    got = client.read_messages(
        "ring", ReadMessagesOptions(desired_start_sequence_number=0, max_message_count=100)
    )
    # A start before the oldest retained message starts at the oldest.
    assert got[0].sequence_number == status.oldest_sequence_number
    assert got[-1].payload == (99).to_bytes(2, "big") * 50


def test_message_larger_than_the_stream_is_refused(client):
    client.create_message_stream(define("small", max_size=1024))
    with pytest.raises(RequestPayloadTooLargeException):
        client.append_message("small", b"y" * 2000)


def test_time_to_live_drops_old_messages(make_server, connect, tmp_path):
    clock = ManualClock()
    server = make_server(clock=clock)
    client = connect(server)
    client.create_message_stream(define("ttl", time_to_live_millis=60_000))
    client.append_message("ttl", b"old")
    clock.advance(30)
    client.append_message("ttl", b"newer")
    clock.advance(31)  # the first message is now 61 s old
    got = client.read_messages("ttl", ReadMessagesOptions(max_message_count=10))
    assert [(m.sequence_number, m.payload) for m in got] == [(1, b"newer")]
    assert server.streams["ttl"].stats["expired_ttl"] == 1


def test_update_message_stream(client):
    client.create_message_stream(define("u", max_size=4096, stream_segment_size=1024))
    for _ in range(10):
        client.append_message("u", b"z" * 100)
    info = client.describe_message_stream("u")
    info.definition.max_size = 8192
    info.definition.time_to_live_millis = 3_600_000
    client.update_message_stream(info.definition)
    updated = client.describe_message_stream("u").definition
    assert (updated.max_size, updated.time_to_live_millis) == (8192, 3_600_000)

    too_small = client.describe_message_stream("u").definition
    too_small.max_size = 1024  # below the 1240 bytes already stored
    with pytest.raises(UpdateNotAllowedException):
        client.update_message_stream(too_small)
    other = client.describe_message_stream("u").definition
    other.persistence = Persistence.Memory
    with pytest.raises(UpdateNotAllowedException, match="persistence"):
        client.update_message_stream(other)


def test_client_side_validation_still_applies(client):
    # The SDK refuses these before sending; the server's own checks are fuzzed elsewhere.
    with pytest.raises(ValidationException):
        client.create_message_stream(define("bad/name"))


def test_file_streams_survive_restart_memory_streams_do_not(make_server, connect, tmp_path):
    root = tmp_path / "device-root"
    server = make_server(root=root)
    client = connect(server)
    client.create_message_stream(define("durable", persistence=Persistence.File))
    client.create_message_stream(define("volatile", persistence=Persistence.Memory))
    for i in range(5):
        client.append_message("durable", f"d{i}".encode())
        client.append_message("volatile", f"v{i}".encode())
    client.close()
    server.stop()

    again = make_server(root=root)
    client = connect(again)
    assert client.list_streams() == ["durable"]
    got = client.read_messages("durable", ReadMessagesOptions(max_message_count=10))
    assert [m.payload for m in got] == [f"d{i}".encode() for i in range(5)]
    assert client.append_message("durable", b"d5") == 5  # numbering continues


def test_overwritten_numbering_survives_restart(make_server, connect, tmp_path):
    root = tmp_path / "device-root"
    server = make_server(root=root)
    client = connect(server)
    client.create_message_stream(define("ring", max_size=2048, stream_segment_size=1024))
    for i in range(60):
        client.append_message("ring", bytes([i]) * 60)
    before = client.describe_message_stream("ring").storage_status
    client.close()
    server.stop()
    client = connect(make_server(root=root))
    after = client.describe_message_stream("ring").storage_status
    assert (after.oldest_sequence_number, after.newest_sequence_number, after.total_bytes) == (
        before.oldest_sequence_number,
        before.newest_sequence_number,
        before.total_bytes,
    )
    assert client.append_message("ring", b"next") == 60


def test_longest_names_work_and_persist(make_server, connect, tmp_path):
    from stream_manager import ExportDefinition, KinesisConfig

    name, export_id = "n" * 255, "e" * 255
    root = tmp_path / "device-root"
    client = connect(make_server(root=root))
    client.create_message_stream(
        define(
            name,
            export_definition=ExportDefinition(
                kinesis=[
                    KinesisConfig(identifier=export_id, kinesis_stream_name="k", batch_size=10)
                ]
            ),
        )
    )
    client.append_message(name, b"x")
    client.close()
    server = make_server(root=root)
    client = connect(server)
    assert client.list_streams() == [name]
    assert client.describe_message_stream(name).export_statuses[0].export_config_identifier == (
        export_id
    )


def test_a_connected_client_carries_on_after_a_server_restart(make_server, connect, tmp_path):
    root = tmp_path / "device-root"
    server = make_server(root=root)
    client = connect(server)
    client.create_message_stream(define("s"))
    assert client.append_message("s", b"one") == 0
    port = server.port
    server.stop()
    make_server(root=root, port=port)  # the nucleus restarts Stream Manager on its port
    # The SDK notices the dead socket and reconnects on its next request.
    for _attempt in range(50):
        try:
            seq = client.append_message("s", b"two")
            break
        except ConnectionError:
            time.sleep(0.1)
    assert seq == 1
    got = client.read_messages("s", ReadMessagesOptions(max_message_count=5))
    assert [m.payload for m in got] == [b"one", b"two"]
