"""A corrupt log file is moved aside, never deleted, and what can be read is salvaged."""

import os
import sqlite3

from components.core.log import Log
from components.core.log.seqmark import mark_path, read_mark

S = "env/bme280@0x76"


def _fill(path, n=3000):
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        lg.register_consumer("uplink", classes=["raw", "alert"])
        for start in range(0, n, 100):
            lg.append_batch(S, "raw", [{"v": i} for i in range(start, start + 100)])
        lg.append("alert/x@1", "alert", {"severity": "critical"})
        b = lg.read("uplink", limit=50, classes=["raw"])
        lg.ack("uplink", b)
        lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _raw_leaf_pages(path):
    """File page indexes (0-based) of rec_raw's leaf pages, so damage hits records and not
    the tree above them whatever the schema's layout."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name='rec_raw' AND pagetype='leaf' ORDER BY pageno"
        ).fetchall()
    finally:
        conn.close()
    return [r[0] - 1 for r in rows]


def _corrupt_pages(path, pages, page_size=4096):
    with open(path, "r+b") as f:
        for p in pages:
            f.seek(p * page_size)
            f.write(os.urandom(page_size))


def test_garbage_file_is_moved_aside_and_a_fresh_log_starts(tmp_path):
    path = tmp_path / "log.db"
    path.write_bytes(b"this is not a database" * 1000)
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        st = lg.stats()
        assert st["counters"]["salvage_events"] == 1
        health = list(lg.snapshot_records(["health"]))
        assert health[0].payload["event"] == "log_salvaged"
        lg.append(S, "raw", {"v": 1})
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")


def test_damaged_pages_are_skipped_and_losses_are_counted_by_sequence(tmp_path):
    path = tmp_path / "log.db"
    _fill(path)
    mark = read_mark(mark_path(path))
    assert mark >= 3000
    leaves = _raw_leaf_pages(path)
    _corrupt_pages(path, leaves[len(leaves) // 2 : len(leaves) // 2 + 2])
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        records = [r for r in lg.snapshot_records(["raw"])]
        ev = [e for e in lg.evictions() if e["reason"] == "corruption"]
        seqs = [r.seq for r in records]
        # Everything readable came back with its original identity; nothing is duplicated.
        assert len(seqs) == len(set(seqs))
        assert all(r.payload["v"] == r.seq - 1 for r in records)
        lost = sum(e["count"] for e in ev)
        assert lost > 0
        # From sequence numbers alone: delivered (acked, retired) + salvaged + lost = produced.
        assert 50 + len(seqs) + lost == 3000
        # The consumer's offset survived, and sequences continue above every number the
        # stream was ever given (the mark beside the file), the jump recorded as a skip.
        assert lg.consumers()["uplink"]["raw"] > 0
        (skip,) = [k for k in lg.seq_skips() if k["stream"] == S]
        assert (skip["first_seq"], skip["last_seq"]) == (3001, mark)
        assert lg.append(S, "raw", {"v": 3000}) == mark + 1
        # The alert (on an undamaged page) is still there.
        assert [r.payload for r in lg.snapshot_records(["alert"])] == [{"severity": "critical"}]
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())
