import sqlite3

import pytest

from components.core.envelope import EnvelopeError
from components.core.log import Log, NewRecord, StreamClassMismatch, UnknownConsumer

S = "env/bme280@0x76"


def test_sequences_are_gapless_per_stream_and_survive_reopen(tmp_path, clock):
    path = tmp_path / "log.db"
    with Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0) as lg:
        assert lg.append(S, "raw", {"temperature_c": 20.0}) == 1
        assert lg.append_batch(S, "raw", [{"temperature_c": 20.5}] * 3) == [2, 3, 4]
        assert lg.append("env/sht3x@0x44", "raw", {"humidity_pct": 40.0}) == 1
    with Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0) as lg:
        assert lg.append(S, "raw", {"temperature_c": 21.0}) == 5
        produced = {s["stream"]: s["produced"] for s in lg.streams()}
        assert produced == {S: 5, "env/sht3x@0x44": 1}


def test_stream_heads_are_the_newest_held_record_of_each_stream(log):
    log.append_records(
        [NewRecord(S, "raw", {"t": i}, mono_ns=1_000 * i) for i in range(1, 4)]
        + [NewRecord("env/sht3x@0x44", "raw", {"t": 9}, mono_ns=77)]
        + [NewRecord("rfid/rdm6300@ttyS0", "event", {"tag": "x"}, mono_ns=5)]
    )
    assert log.stream_heads("raw") == {S: (3, 3_000), "env/sht3x@0x44": (1, 77)}
    assert log.stream_heads("event") == {"rfid/rdm6300@ttyS0": (1, 5)}


def test_mixed_batch_assigns_each_stream_its_own_sequence(log):
    seqs = log.append_records(
        [
            NewRecord(S, "raw", {"t": 1}),
            NewRecord("rfid/rdm6300@ttyS0", "event", {"tag": "x"}),
            NewRecord(S, "raw", {"t": 2}),
            NewRecord(S, "raw", {"t": 3}, device="pos-17"),
        ]
    )
    assert seqs == [1, 1, 2, 1]


def test_payload_that_changes_shape_is_kept_whole(log):
    log.append(S, "raw", {"a": 1, "b": 2})
    log.append(S, "raw", {"b": 2, "a": 1})  # same keys, other order
    log.append(S, "raw", {"a": 1, "nested": {"x": [1, 2]}})
    log.register_consumer("c", classes=["raw"])
    got = [dict(r.payload) for r in log.read("c")]
    assert got == [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1, "nested": {"x": [1, 2]}}]
    assert [list(p) for p in got] == [["a", "b"], ["b", "a"], ["a", "nested"]]


def test_bad_input_is_refused_and_nothing_is_written(log):
    log.append(S, "raw", {"t": 1})
    with pytest.raises(EnvelopeError):
        log.append_records(
            [NewRecord(S, "raw", {"t": 2}), NewRecord(S, "raw", {"t": float("nan")})]
        )
    with pytest.raises(EnvelopeError):
        log.append("no slash", "raw", {"t": 1})
    with pytest.raises(EnvelopeError):
        log.append("env/x@1", "weird", {"t": 1})
    with pytest.raises(StreamClassMismatch):
        log.append(S, "alert", {"t": 1})
    # The failed batch left no trace: the next record takes seq 2.
    assert log.append(S, "raw", {"t": 3}) == 2


def test_consumer_reads_by_priority_and_acks_durably(tmp_path, clock):
    path = tmp_path / "log.db"
    lg = Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0)
    lg.register_consumer("uplink")
    lg.append_batch(S, "raw", [{"t": i} for i in range(3)])
    lg.append("agg/bme280@0x76", "aggregate", {"mean": 1.0})
    lg.append("alert/bme280@0x76", "alert", {"severity": "critical"})
    batch = lg.read("uplink", limit=3)
    assert [r.cls for r in batch] == ["alert", "aggregate", "raw"]
    lg.ack("uplink", batch)
    lg.close()
    lg = Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0)
    rest = lg.read("uplink")
    assert [(r.stream, r.seq) for r in rest] == [(S, 2), (S, 3)]
    # Acknowledged records were retired: only the unacknowledged remain on disk.
    assert lg.stats()["classes"]["raw"]["records"] == 2
    assert lg.stats()["classes"]["alert"]["records"] == 0


def test_retention_waits_for_every_consumer_of_a_class(log):
    log.register_consumer("iot", classes=["alert"])
    log.register_consumer("kinesis", classes=["raw", "alert"])
    log.append("alert/x@1", "alert", {"a": 1})
    log.ack("iot", log.read("iot"))
    assert log.stats()["classes"]["alert"]["records"] == 1
    log.ack("kinesis", log.read("kinesis"))
    assert log.stats()["classes"]["alert"]["records"] == 0


def test_unconsumed_class_is_kept(log):
    log.register_consumer("iot", classes=["alert"])
    log.append(S, "raw", {"t": 1})
    log.ack("iot", log.read("iot"))
    assert log.stats()["classes"]["raw"]["records"] == 1


def test_ack_never_moves_backwards_and_unknown_consumer_is_an_error(log):
    log.register_consumer("c", classes=["raw"])
    log.append_batch(S, "raw", [{"t": i} for i in range(4)])
    b = log.read("c")
    log.ack_positions("c", {"raw": b.positions[3]})
    log.ack_positions("c", {"raw": b.positions[0]})
    assert log.read("c") == []
    with pytest.raises(UnknownConsumer):
        log.read("nobody")
    with pytest.raises(UnknownConsumer):
        log.ack_positions("c", {"alert": 1})


def test_new_consumer_starts_at_what_the_log_still_holds(log):
    log.append_batch(S, "raw", [{"t": i} for i in range(3)])
    log.register_consumer("late", classes=["raw"])
    assert [r.seq for r in log.read("late")] == [1, 2, 3]


def test_quarantine_keeps_what_cannot_be_accepted(log):
    log.quarantine(b"\x00\x01garbage", "unknown schema version 9")
    assert log.stats()["quarantined"] == 1
    assert log.stats()["counters"]["quarantined"] == 1


def test_durability_settings(log):
    conn = sqlite3.connect(log.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: check the log's own connection.
    assert log._db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_snapshot_is_consistent_while_writers_continue(log):
    log.append_batch(S, "raw", [{"t": i} for i in range(100)])
    snap = log.snapshot_records(["raw"])
    first = next(snap)
    log.append_batch(S, "raw", [{"t": i} for i in range(100)])
    rest = list(snap)
    assert first.seq == 1 and len(rest) == 99  # the snapshot does not see the later batch


def test_a_stream_created_in_a_refused_batch_does_not_linger(log):
    with pytest.raises(EnvelopeError):
        log.append_records(
            [NewRecord("env/new@1", "raw", {"t": 1}), NewRecord(S, "raw", {"t": float("inf")})]
        )
    assert log.append("env/new@1", "raw", {"t": 2}) == 1


def test_data_version_moves_only_for_other_connections_commits(tmp_path, clock):
    path = tmp_path / "log.db"
    reader = Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0)
    writer = Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0)
    try:
        reader.register_consumer("uplink")
        v0 = reader.data_version()
        reader.append(S, "raw", {"t": 1})
        reader.ack("uplink", reader.read("uplink"))
        assert reader.data_version() == v0  # its own commits
        writer.append(S, "raw", {"t": 2})
        v1 = reader.data_version()
        assert v1 != v0
        assert reader.data_version() == v1  # asking again is not a change
    finally:
        writer.close()
        reader.close()
