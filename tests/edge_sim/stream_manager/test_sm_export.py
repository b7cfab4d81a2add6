"""Kinesis export: batching, outage and recovery, durable progress, limits, the local lake."""

from __future__ import annotations

from pathlib import Path

import pytest
from stream_manager import (
    ExportDefinition,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    StrategyOnFull,
)

from components.core.limits import KINESIS_RECORD_MAX_BYTES
from edge_sim.stream_manager import LocalDirKinesis, MemoryKinesis, PutResult, read_records
from edge_sim.stream_manager.kinesis import InvalidPutRequest


def exporting(
    name: str, kinesis_stream: str = "raw-telemetry", **kinesis
) -> MessageStreamDefinition:
    return MessageStreamDefinition(
        name=name,
        strategy_on_full=StrategyOnFull.RejectNewData,
        persistence=Persistence.File,
        export_definition=ExportDefinition(
            kinesis=[
                KinesisConfig(identifier=f"{name}-k", kinesis_stream_name=kinesis_stream, **kinesis)
            ]
        ),
    )


def payloads(n: int, start: int = 0) -> list[bytes]:
    return [f"reading-{i}".encode() for i in range(start, start + n)]


def test_batch_size_holds_back_a_partial_batch(client, server, sink, wait_until):
    client.create_message_stream(exporting("s", batch_size=10))
    for p in payloads(25):
        client.append_message("s", p)
    exporter = server.exporters["s"][0]
    wait_until(lambda: exporter.progress.last_exported_seq == 19)
    assert len(sink.records("raw-telemetry")) == 20
    # Five more complete the third batch.
    for p in payloads(5, 25):
        client.append_message("s", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 30)
    assert [d for _, d in sink.records("raw-telemetry")] == payloads(30)


def test_batch_interval_sends_a_partial_batch(client, sink, wait_until):
    # 60 s of device time is 6 ms at the test's speed factor.
    client.create_message_stream(exporting("s", batch_size=500, batch_interval_millis=60_000))
    for p in payloads(7):
        client.append_message("s", p)
    wait_until(
        lambda: (
            client.describe_message_stream("s").export_statuses[0].last_exported_sequence_number
            == 6
        )
    )
    assert len(sink.records("raw-telemetry")) == 7
    status = client.describe_message_stream("s").export_statuses[0]
    assert status.export_config_identifier == "s-k"
    assert status.last_exported_sequence_number == 6
    assert status.exported_messages_count == 7
    assert status.exported_bytes_from_stream == sum(len(p) for p in payloads(7))
    assert not status.error_message


def test_outage_then_recovery_delivers_every_message_once_in_order(
    client, server, sink, wait_until
):
    client.create_message_stream(exporting("s", batch_size=50))
    sink.available = False
    for p in payloads(420):
        client.append_message("s", p)
    exporter = server.exporters["s"][0]
    wait_until(lambda: exporter.failures >= 3)  # it keeps retrying
    status = client.describe_message_stream("s").export_statuses[0]
    assert "unreachable" in status.error_message
    assert status.last_exported_sequence_number == -1
    assert sink.records("raw-telemetry") == []

    sink.available = True
    for p in payloads(30, 420):
        client.append_message("s", p)
    wait_until(lambda: exporter.progress.last_exported_seq == 449)
    delivered = [d for _, d in sink.records("raw-telemetry")]
    assert delivered == payloads(450)  # exactly once each, in order
    status = client.describe_message_stream("s").export_statuses[0]
    assert status.last_exported_sequence_number == 449
    assert not status.error_message


def test_export_progress_survives_restart(make_server, connect, sink, tmp_path, wait_until):
    root = tmp_path / "device"
    server = make_server(root=root)
    client = connect(server)
    client.create_message_stream(exporting("s", batch_size=10))
    for p in payloads(100):
        client.append_message("s", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 100)
    client.close()
    server.stop()

    server = make_server(root=root)
    client = connect(server)
    for p in payloads(50, 100):
        client.append_message("s", p)
    wait_until(lambda: server.exporters["s"][0].progress.last_exported_seq == 149)
    # No resend of what was already acknowledged.
    assert [d for _, d in sink.records("raw-telemetry")] == payloads(150)
    assert client.describe_message_stream("s").export_statuses[0].exported_messages_count == 150


def test_backlog_survives_restart_during_outage(make_server, connect, sink, tmp_path, wait_until):
    root = tmp_path / "device"
    sink.available = False
    server = make_server(root=root)
    client = connect(server)
    client.create_message_stream(exporting("s", batch_size=25))
    for p in payloads(75):
        client.append_message("s", p)
    client.close()
    server.stop()
    sink.available = True
    make_server(root=root)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 75)
    assert [d for _, d in sink.records("raw-telemetry")] == payloads(75)


class ThrottlingKinesis(MemoryKinesis):
    """Refuses every record past the first `accept` of a call, like a throttled shard."""

    def __init__(self, accept: int) -> None:
        super().__init__()
        self.accept = accept

    def put_records(self, stream_name, records):
        accepted = super().put_records(stream_name, records[: self.accept])
        refused = [
            PutResult(
                False,
                error_code="ProvisionedThroughputExceededException",
                error_message="Rate exceeded for shard",
            )
            for _ in records[self.accept :]
        ]
        return accepted + refused


def test_partial_failures_neither_lose_nor_reorder(make_server, connect, wait_until):
    throttled = ThrottlingKinesis(accept=7)
    server = make_server(sink=throttled)
    client = connect(server)
    client.create_message_stream(exporting("s", batch_size=20, batch_interval_millis=60_000))
    for p in payloads(100):
        client.append_message("s", p)
    wait_until(lambda: server.exporters["s"][0].progress.last_exported_seq == 99)
    assert [d for _, d in throttled.records("raw-telemetry")] == payloads(100)
    assert server.exporters["s"][0].failures > 0


def test_record_over_the_kinesis_limit_is_skipped_and_reported(client, server, sink, wait_until):
    client.create_message_stream(exporting("s"))
    client.append_message("s", b"before")
    client.append_message("s", b"x" * KINESIS_RECORD_MAX_BYTES)  # plus its key: too large
    client.append_message("s", b"after")
    wait_until(lambda: server.exporters["s"][0].progress.last_exported_seq == 2)
    assert [d for _, d in sink.records("raw-telemetry")] == [b"before", b"after"]
    progress = server.exporters["s"][0].progress
    assert progress.skipped_messages == 1
    assert progress.last_skip_reason.startswith("message 1 is")
    assert "Kinesis limit" in progress.last_skip_reason


def test_disabled_export_sends_nothing(client, sink, server):
    client.create_message_stream(exporting("s", disabled=True))
    client.append_message("s", b"x")
    assert not server.exporters["s"][0]._thread.is_alive()
    assert sink.records("raw-telemetry") == []


def test_start_sequence_number_skips_earlier_messages(client, sink, wait_until):
    client.create_message_stream(exporting("s", start_sequence_number=5))
    for p in payloads(10):
        client.append_message("s", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 5)
    assert [d for _, d in sink.records("raw-telemetry")] == payloads(5, 5)


def test_partition_keys_are_unique_per_message(client, sink, wait_until):
    client.create_message_stream(exporting("s"))
    for p in payloads(50):
        client.append_message("s", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 50)
    keys = [k for k, _ in sink.records("raw-telemetry")]
    assert len(set(keys)) == 50


def test_local_dir_kinesis_is_readable_by_a_lake_consumer(
    tmp_path: Path, make_server, connect, wait_until
):
    lake_in = tmp_path / "kinesis"
    server = make_server(sink=LocalDirKinesis(lake_in))
    client = connect(server)
    client.create_message_stream(exporting("s", batch_size=10))
    for p in payloads(30):
        client.append_message("s", p)
    wait_until(lambda: len(list(read_records(lake_in, "raw-telemetry"))) == 30)
    rows = list(read_records(lake_in, "raw-telemetry"))
    assert [data for _, _, data in rows] == payloads(30)
    assert [seq for seq, _, _ in rows] == list(range(1, 31))
    assert len(list((lake_in / "raw-telemetry").glob("*.jsonl"))) == 3  # one file per call
    assert [d for _, _, d in read_records(lake_in, "raw-telemetry", after_seq=25)] == payloads(
        5, 25
    )
    # A new instance over the same directory continues the numbering.
    again = LocalDirKinesis(lake_in)
    [result] = again.put_records("raw-telemetry", [("k", b"more")])
    assert result.sequence_number == "31"


def test_local_kinesis_refuses_what_kinesis_refuses():
    k = MemoryKinesis()
    with pytest.raises(InvalidPutRequest):
        k.put_records("s", [("k", b"x")] * 501)
    with pytest.raises(InvalidPutRequest):
        k.put_records("s", [("k", b"x" * KINESIS_RECORD_MAX_BYTES)])
    with pytest.raises(InvalidPutRequest):
        k.put_records("s", [("k", b"x" * 1_000_000)] * 6)  # 6 MB request
    with pytest.raises(InvalidPutRequest):
        k.put_records("bad name!", [("k", b"x")])
    assert k.records("s") == []


def test_virtual_clock_drives_batch_interval_and_backoff(make_server, connect, sink, wait_until):
    from components.core.clock import ManualClock

    clock = ManualClock()
    server = make_server(clock=clock, speed=1.0, sink=sink)
    client = connect(server)
    client.create_message_stream(exporting("s", batch_size=100, batch_interval_millis=60_000))
    for p in payloads(3):
        client.append_message("s", p)
    exporter = server.exporters["s"][0]
    clock.advance(59)
    assert exporter.calls == 0  # nothing is due before the interval, however long we look
    clock.advance(2)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 3)

    sink.available = False
    for p in payloads(3, 3):
        client.append_message("s", p)
    clock.advance(61)
    wait_until(lambda: exporter.failures == 1)
    sink.available = True
    calls = exporter.calls
    clock.advance(0.5)  # the first retry is due 1 s (device time) after the failure
    assert exporter.calls == calls
    clock.advance(0.6)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 6)
    assert [d for _, d in sink.records("raw-telemetry")] == payloads(6)


def test_update_keeps_the_export_cursor_of_a_memory_stream(client, server, sink, wait_until):
    definition = exporting("m", batch_size=5)
    definition.persistence = Persistence.Memory
    client.create_message_stream(definition)
    for p in payloads(10):
        client.append_message("m", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 10)
    info = client.describe_message_stream("m")
    info.definition.max_size = 512 * 1024 * 1024
    client.update_message_stream(info.definition)
    for p in payloads(5, 10):
        client.append_message("m", p)
    wait_until(lambda: server.exporters["m"][0].progress.last_exported_seq == 14)
    assert [d for _, d in sink.records("raw-telemetry")] == payloads(15)


def test_update_with_new_start_sequence_number_moves_the_cursor(client, server, sink, wait_until):
    client.create_message_stream(exporting("s", batch_size=1))
    for p in payloads(6):
        client.append_message("s", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 6)
    info = client.describe_message_stream("s")
    info.definition.export_definition.kinesis[0].start_sequence_number = 4
    client.update_message_stream(info.definition)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 8)  # 4 and 5 again, on request
    assert [d for _, d in sink.records("raw-telemetry")][6:] == payloads(2, 4)


def test_data_overwritten_before_export_is_counted_not_hidden(client, server, sink, wait_until):
    definition = exporting("ring", batch_size=10)
    definition.max_size = 2048
    definition.strategy_on_full = StrategyOnFull.OverwriteOldestData
    client.create_message_stream(definition)
    sink.available = False
    for p in payloads(100):
        client.append_message("ring", p)
    oldest = client.describe_message_stream("ring").storage_status.oldest_sequence_number
    assert oldest > 0
    sink.available = True
    wait_until(lambda: server.exporters["ring"][0].progress.last_exported_seq == 99)
    delivered = [d for _, d in sink.records("raw-telemetry")]
    assert delivered == payloads(100 - oldest, oldest)
    snap = server.snapshot()["streams"]["ring"]
    assert snap["exports"][0]["skippedEvicted"] == oldest
    assert snap["counters"]["evicted_full"] == oldest
    assert snap["exports"][0]["exportedMessagesCount"] == 100 - oldest


def test_power_cut_never_reuses_an_exported_sequence_number(
    make_server, connect, sink, tmp_path, wait_until
):
    import os

    root = tmp_path / "device"
    server = make_server(root=root)
    client = connect(server)
    client.create_message_stream(exporting("s", batch_size=5))
    for p in payloads(10):
        client.append_message("s", p)
    wait_until(lambda: len(sink.records("raw-telemetry")) == 10)
    client.close()
    server.stop()
    for seg in (root / "streams").glob("*/segments/*.seg"):
        os.truncate(seg, 0)  # the page cache never reached the disk
    client = connect(make_server(root=root))
    assert client.append_message("s", b"after the cut") == 10


def test_a_damaged_lake_file_is_named_not_a_crash(tmp_path):
    from edge_sim.stream_manager.kinesis import CorruptRecordFile

    k = LocalDirKinesis(tmp_path)
    k.put_records("raw", [("k", b"a"), ("k", b"b")])
    [path] = (tmp_path / "raw").glob("*.jsonl")
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(CorruptRecordFile, match="line 3"):
        list(read_records(tmp_path, "raw"))


def test_a_consumer_skips_files_it_has_read_whole(tmp_path):
    """Polling after a sequence number opens only the files that can hold newer records:
    a damaged file wholly before the cursor is never read again."""
    from edge_sim.stream_manager.kinesis import CorruptRecordFile

    k = LocalDirKinesis(tmp_path)
    for first in (b"a", b"c", b"e"):
        k.put_records("raw", [("k", first), ("k", bytes([first[0] + 1]))])  # seqs 1-2, 3-4, 5-6
    oldest = min((tmp_path / "raw").glob("*.jsonl"))
    oldest.write_text(oldest.read_text() + "{not json\n")
    with pytest.raises(CorruptRecordFile):
        list(read_records(tmp_path, "raw"))
    with pytest.raises(CorruptRecordFile):  # seq 2 is still ahead of the cursor
        list(read_records(tmp_path, "raw", after_seq=1))
    assert [(s, d) for s, _k, d in read_records(tmp_path, "raw", after_seq=2)] == [
        (3, b"c"),
        (4, b"d"),
        (5, b"e"),
        (6, b"f"),
    ]
    assert [d for _s, _k, d in read_records(tmp_path, "raw", after_seq=5)] == [b"f"]
    assert list(read_records(tmp_path, "raw", after_seq=6)) == []


def test_a_consumer_never_reads_past_a_file_its_listing_missed(tmp_path):
    """A directory listed while files are renamed into it can show a later file and not an
    earlier one. Reading past the gap would move the cursor beyond records never read (they
    were lost for good at 45 simulated devices); the consumer stops at the gap instead."""
    k = LocalDirKinesis(tmp_path)
    for data in (b"a", b"b", b"c"):
        k.put_records("raw", [("k", data)])  # seqs 1, 2, 3: one file each
    second = tmp_path / "raw" / f"{2:020d}.jsonl"
    hidden = second.with_name(".not-listed-yet")
    second.rename(hidden)  # the listing's view: 1 and 3, not 2
    assert [(s, d) for s, _k, d in read_records(tmp_path, "raw")] == [(1, b"a")]
    hidden.rename(second)  # the next listing has it
    assert [(s, d) for s, _k, d in read_records(tmp_path, "raw", after_seq=1)] == [
        (2, b"b"),
        (3, b"c"),
    ]
