"""Idempotent appends: a key and its records are committed together, or neither is."""

import pytest

from components.core.envelope import EnvelopeError
from components.core.log import BudgetExceeded, KeyedAppend, Log, NewRecord

S = "pos_sale/http@pos-17"


def _rec(i, stream=S):
    return NewRecord(stream, "event", {"i": i}, device="pos-17")


def _events(lg):
    return [(r.identity, r.payload["i"]) for r in lg.snapshot_records(["event"])]


def test_a_known_key_writes_nothing_and_returns_the_first_identities(tmp_path, clock):
    path = tmp_path / "log.db"
    with Log.open(path, device="gw", clock=clock, free_floor_bytes=0) as lg:
        first = lg.append_keyed([KeyedAppend("k1", [_rec(1), _rec(2)], "fp")])[0]
        assert not first.replayed
        assert first.identities == [("pos-17", S, 1), ("pos-17", S, 2)]
    with Log.open(path, device="gw", clock=clock, free_floor_bytes=0) as lg:  # survives reopen
        again = lg.append_keyed([KeyedAppend("k1", [_rec(1), _rec(2)], "other")])[0]
        assert again.replayed and again.identities == first.identities
        assert again.fingerprint == "fp"  # the stored one: the caller can spot a reused key
        assert len(_events(lg)) == 2


def test_groups_in_one_call_share_a_transaction_and_repeats_are_replays(log):
    out = log.append_keyed(
        [
            KeyedAppend("a", [_rec(1)]),
            KeyedAppend(None, [_rec(2)]),
            KeyedAppend("a", [_rec(3)]),  # same key again in the same call
            KeyedAppend(None, [_rec(4)]),
            KeyedAppend("b", [_rec(5, "gate_passage/http@pos-17")]),
        ]
    )
    assert [r.replayed for r in out] == [False, False, True, False, False]
    assert out[2].identities == out[0].identities == [("pos-17", S, 1)]
    assert out[3].identities == [("pos-17", S, 3)]
    assert out[4].identities == [("pos-17", "gate_passage/http@pos-17", 1)]
    assert sorted(i for _, i in _events(log)) == [1, 2, 4, 5]


def test_unkeyed_groups_always_write(log):
    log.append_keyed([KeyedAppend(None, [_rec(1)])])
    log.append_keyed([KeyedAppend(None, [_rec(1)])])
    assert len(_events(log)) == 2


def test_a_failed_transaction_stores_no_key(log):
    bad = NewRecord("not a stream", "event", {"i": 0}, device="pos-17")
    with pytest.raises(EnvelopeError):
        log.append_keyed([KeyedAppend("k", [_rec(1)]), KeyedAppend(None, [bad])])
    assert _events(log) == []
    out = log.append_keyed([KeyedAppend("k", [_rec(1)])])[0]
    assert not out.replayed and out.identities == [("pos-17", S, 1)]


def test_refused_for_budget_stores_no_key_and_counts_the_refusal(tmp_path, clock):
    with Log.open(
        tmp_path / "small.db", device="gw", clock=clock, budget_bytes=1 << 20, free_floor_bytes=0
    ) as lg:
        big = {"blob": "x" * 2000}
        n = 0
        with pytest.raises(BudgetExceeded):
            while True:
                lg.append_keyed(
                    [KeyedAppend(f"k{n}", [NewRecord(S, "event", big, device="pos-17")])],
                    may_evict_own_class=False,
                )
                n += 1
        assert lg._writer.known(f"k{n}") is None
        assert lg._writer.known(f"k{n - 1}") is not None
        assert lg.stats()["counters"]["rejected_full.event"] == 1


def test_keys_are_bounded_by_count_and_pruned_by_age(log, clock):
    for i in range(30):
        log.append_keyed([KeyedAppend(f"k{i}", [_rec(i)])], max_keys=10)
    kept = [k for (k,) in log._db.conn.execute("SELECT key FROM idempotency ORDER BY id")]
    assert kept == [f"k{i}" for i in range(20, 30)]
    clock.advance(3600)
    log.append_keyed([KeyedAppend("late", [_rec(99)])], key_retention_s=60)
    kept = [k for (k,) in log._db.conn.execute("SELECT key FROM idempotency ORDER BY id")]
    assert kept == ["late"]
    # A pruned key is forgotten: the same key writes again (the retention is the promise).
    assert not log.append_keyed([KeyedAppend("k25", [_rec(25)])])[0].replayed


def test_quick_stats_agree_with_the_counting_stats(tmp_path, clock):
    with Log.open(
        tmp_path / "q.db", device="gw", clock=clock, budget_bytes=1 << 20, free_floor_bytes=0
    ) as lg:
        lg.register_consumer("up", classes=["raw", "event"])
        lg.register_consumer("other", classes=["event"])
        for i in range(150):  # enough raw to force evictions (prefix deletes)
            lg.append_batch("env/x@1", "raw", [{"pad": "x" * 500, "i": i}] * 20)
        lg.append_batch(S, "event", [{"i": i} for i in range(30)], device="pos-17")
        batch = lg.read("up", limit=10, classes=["event"])
        lg.ack("up", batch)  # 'other' still holds them: nothing retired yet
        lg.ack_positions("other", {"event": batch.positions[4]})  # retires 5
        assert lg.evictions()
        full, quick = lg.stats(), lg.quick_stats()
        assert quick["records"] == {c: v["records"] for c, v in full["classes"].items()}
        assert quick["backlog"] == {
            name: {c: v["records"] for c, v in per.items()} for name, per in full["backlog"].items()
        }
        assert quick["used_bytes"] > 0 and quick["clock_synced"] == full["clock_synced"]
