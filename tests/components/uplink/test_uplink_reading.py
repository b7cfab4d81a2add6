"""Reads sized by memory: the same records as one plain read, in order, cut at the budget."""

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core import batch
from components.core.log import Log, NewRecord
from components.uplink import reading
from components.uplink.__main__ import _version

CLASS_STREAMS = {
    "alert": "alert/t@1",
    "event": "event/t@1",
    "aggregate": "agg/t@1",
    "health": "health/t@1",
    "raw": "env/t@1",
}


def _log(tmp_path, counts, fields=3):
    lg = Log.open(tmp_path / "log.db", device="dev-1", budget_bytes=1 << 30, free_floor_bytes=0)
    recs = []
    for cls, n in counts.items():
        # several streams per class, interleaved, as a device writes them
        recs += [
            NewRecord(f"{CLASS_STREAMS[cls]}{i % 3}", cls, {f"f{k}": i + k for k in range(fields)})
            for i in range(n)
        ]
    lg.append_records(recs)
    return lg


@settings(max_examples=25, deadline=None)
@given(
    counts=st.fixed_dictionaries({c: st.integers(0, 700) for c in CLASS_STREAMS}),
    max_records=st.integers(1, 3000),
    max_bytes=st.integers(1, 400_000),
    fields=st.integers(0, 12),
)
def test_bounded_read_is_a_prefix_of_the_plain_read_within_the_budget(
    tmp_path_factory, counts, max_records, max_bytes, fields
):
    lg = _log(tmp_path_factory.mktemp("log"), counts, fields)
    try:
        classes = ("alert", "event", "aggregate", "health", "raw")
        lg.register_consumer("c", classes)
        plain = lg.read("c", limit=max_records, classes=classes)
        got = reading.read_bounded(lg, "c", classes, max_records=max_records, max_bytes=max_bytes)
        n = len(got)
        assert list(got) == list(plain[:n])
        assert got.positions == plain.positions[:n]
        assert n <= max_records
        # cut at the budget: at most one chunk beyond it, and short only when the budget says so
        per = reading.RECORD_BYTES + reading.FIELD_BYTES * fields
        assert reading.approx_bytes(got) < max_bytes + reading.CHUNK_RECORDS * per
        if n < len(plain):
            assert reading.approx_bytes(got) >= max_bytes
    finally:
        lg.close()


def test_draining_by_bounded_reads_acknowledges_every_record_once(tmp_path):
    lg = _log(tmp_path, {"aggregate": 900, "raw": 2600}, fields=9)
    try:
        lg.register_consumer("c", ("aggregate", "raw"))
        seen = []
        reads = 0
        while batch := reading.read_bounded(
            lg, "c", ("aggregate", "raw"), max_records=5000, max_bytes=100_000
        ):
            reads += 1
            # a chunk of these records already exceeds the budget: one chunk per read
            assert len(batch) <= reading.CHUNK_RECORDS
            seen += [r.identity for r in batch]
            lg.ack(consumer="c", batch=batch)
        assert len(seen) == len(set(seen)) == 3500
        assert reads == -(-3500 // reading.CHUNK_RECORDS)
    finally:
        lg.close()


def test_version_comes_from_the_dist_info_folder(tmp_path):
    (tmp_path / "floorline-1.2.3.dist-info").mkdir()
    (tmp_path / "other-9.9.dist-info").mkdir()
    assert _version([str(tmp_path / "missing"), str(tmp_path)]) == "1.2.3"
    assert _version([str(tmp_path / "missing")]) == "unknown"


@pytest.mark.slow
def test_stream_manager_client_import_leaves_openssl_out_and_ssl_importable():
    code = (
        "import sys\n"
        "from components.uplink.__main__ import _stream_manager_client\n"
        "try:\n"
        "    _stream_manager_client()\n"
        "except OSError:\n"
        "    pass  # no Stream Manager listening: the import is what is checked\n"
        "assert 'stream_manager' in sys.modules and 'asyncio' in sys.modules\n"
        "assert 'ssl' not in sys.modules and '_ssl' not in sys.modules\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert 'libssl' not in maps and 'libcrypto' not in maps, 'OpenSSL mapped'\n"
        "import ssl\n"
        "assert ssl.OPENSSL_VERSION\n"
    )
    env = {**os.environ, "STREAM_MANAGER_SERVER_PORT": "1"}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr[-2000:]


def _iot_sender(tmp_path, events, text_bytes, budget_bytes, min_records=200):
    from components.core.clock import ManualClock
    from components.core.config import ConfigHolder
    from components.uplink.config import SPEC
    from components.uplink.senders import IOT_CLASSES, IOT_CONSUMER, IotCoreSender

    lg = Log.open(tmp_path / "log.db", device="dev-1", budget_bytes=1 << 30, free_floor_bytes=0)
    lg.register_consumer(IOT_CONSUMER, IOT_CLASSES)
    lg.append_records(
        [NewRecord("event/door@1", "event", {"text": "x" * text_bytes}) for _ in range(events)]
    )
    published = []
    holder = ConfigHolder(SPEC, {"siteId": "s1", "batchMinRecords": min_records})
    sender = IotCoreSender(
        lg,
        lambda topic, payload: published.append(payload),
        holder,
        thing="dev-1",
        clock=ManualClock(),
        sleep=lambda _s: None,
        read_budget_bytes=budget_bytes,
    )
    return lg, sender, published


def test_a_read_cut_by_its_budget_is_sent_without_waiting_to_fill(tmp_path):
    # Each read holds one chunk, fewer than batchMinRecords: waiting could never fill it,
    # so every read goes out at once (the clock does not move).
    lg, sender, published = _iot_sender(tmp_path, 600, 20, budget_bytes=20_000, min_records=1000)
    try:
        sent = []
        while n := sender.run_once():
            sent.append(n)
        assert sum(sent) == 600 and max(sent) <= reading.CHUNK_RECORDS
        assert lg.read("uplink-iot", classes=("event",)) == []
        assert sum(len(batch.decode(p)[1]) for p in published) == 600
    finally:
        lg.close()


def test_a_small_backlog_still_waits_to_fill_its_batch(tmp_path):
    lg, sender, published = _iot_sender(tmp_path, 150, 20, budget_bytes=512 * 1024)
    try:
        assert sender.run_once() == 0 and published == []
    finally:
        lg.close()


def test_the_tail_of_an_old_backlog_does_not_wait_to_fill(tmp_path):
    import time

    from components.core.clock import ManualClock

    lg, sender, published = _iot_sender(tmp_path, 150, 20, budget_bytes=512 * 1024)
    try:
        pending = lg.read("uplink-iot")
        assert pending and all(r.clock_synced for r in pending)
        # the sender's clock is 10 min past the records' wall time: they have waited enough
        sender.clock = ManualClock(wall_ms=int(time.time() * 1000) + 600_000)
        assert sender.run_once() == 150
        assert sum(len(batch.decode(p)[1]) for p in published) == 150
    finally:
        lg.close()


def _producer_and_read_count(tmp_path, lg):
    """Another process's connection to the log, and a list that grows by one per read of
    `lg` (the sender's connection)."""
    producer = Log.open(
        tmp_path / "log.db", device="dev-1", budget_bytes=1 << 30, free_floor_bytes=0
    )
    reads = []
    real_read = lg.read
    lg.read = lambda *a, **k: reads.append(1) or real_read(*a, **k)
    return producer, reads


def test_an_idle_sender_reads_again_as_soon_as_another_process_commits(tmp_path):
    lg, sender, published = _iot_sender(tmp_path, 0, 20, budget_bytes=512 * 1024, min_records=1)
    producer, reads = _producer_and_read_count(tmp_path, lg)
    try:
        assert [sender.run_once() for _ in range(4)] == [0, 0, 0, 0]
        assert len(reads) == 1  # the empty log was read once, then left alone
        producer.append("event/door@1", "event", {"text": "open"})
        assert sender.run_once() == 1 and len(published) == 1
        # its own acknowledgement is not news: one more read finds nothing, then quiet again
        assert [sender.run_once() for _ in range(3)] == [0, 0, 0]
        assert len(reads) == 3
        producer.append("event/door@1", "event", {"text": "closed"})
        assert sender.run_once() == 1 and len(published) == 2
    finally:
        producer.close()
        lg.close()


def test_a_backlog_waiting_to_fill_is_read_again_only_when_it_falls_due_or_grows(tmp_path):
    """Polls are frequent (a new alert must not wait): while a small backlog waits for its
    batch to fill, a poll reads the log again only once the backlog's delay has passed, a
    flush is asked for, or another process has committed."""
    lg, sender, published = _iot_sender(tmp_path, 150, 20, budget_bytes=512 * 1024)
    producer, reads = _producer_and_read_count(tmp_path, lg)
    try:
        delay_s = sender.config.current.batchMaxDelaySeconds
        assert [sender.run_once() for _ in range(5)] == [0] * 5
        assert len(reads) == 1 and published == []
        producer.append("event/door@1", "event", {"text": "open"})  # news: read again
        assert sender.run_once() == 0 and len(reads) == 2
        assert sender.run_once() == 0 and len(reads) == 2
        sender.clock.advance(delay_s - 0.5)
        assert sender.run_once() == 0 and len(reads) == 2  # not due yet
        sender.clock.advance(1.0)
        assert sender.run_once() == 151 and len(published) >= 1  # fell due: read and sent
        producer.append("event/door@1", "event", {"text": "closed"})
        assert sender.run_once() == 0
        sender.flush_requested.set()
        assert sender.run_once() == 1  # a flush reads and sends at once
    finally:
        producer.close()
        lg.close()
