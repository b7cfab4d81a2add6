"""The log's batch row codec: a whole batch in one JSON array split by SQLite, Records built
column by column. Oracles: the json module's own encoder, Record's own constructor, and
what comes back out of a real SQLite file."""

import json
import math
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core.envelope import EnvelopeError, Record
from components.core.log import Log, LogError, NewRecord, ReadBatch
from components.core.log.rows import (
    body_items,
    encode_items,
    in_position_order,
    make_records,
    payloads_of,
)
from components.core.log.schema import require_sqlite

S = "env/bme280@0x76"


def _compact(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), values, max_size=5)


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(payloads, min_size=1, max_size=20), wall_ms=st.integers(0, 2**50))
@pytest.mark.slow
def test_a_batch_comes_back_exactly_and_is_stored_as_the_json_module_would(batch, wall_ms):
    with tempfile.TemporaryDirectory() as tmp:
        _round_trip(Path(tmp) / "log.db", batch, wall_ms)


def _round_trip(path, batch, wall_ms):
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        lg.register_consumer("c", classes=["raw"])
        seqs = lg.append_batch(S, "raw", batch, wall_ms=wall_ms)
        # The same payloads again, one record each with its own timestamp (the mixed form).
        lg.append_records(
            [NewRecord(S, "raw", p, wall_ms=wall_ms + i) for i, p in enumerate(batch)]
        )
        got = lg.read("c", limit=10_000)
        fields = lg._streams.by_key[("dev-001", S)].fields
    assert seqs == list(range(1, len(batch) + 1))
    assert [r.seq for r in got] == list(range(1, 2 * len(batch) + 1))
    assert [r.wall_ms for r in got] == [wall_ms] * len(batch) + [
        wall_ms + i for i in range(len(batch))
    ]
    # JSON turns non-str keys into strings and tuples into lists: compare to what json gives.
    expected = [json.loads(_compact(p)) for p in batch] * 2
    assert [dict(r.payload) for r in got] == expected
    with sqlite3.connect(path) as raw:
        bodies = [b for (b,) in raw.execute("SELECT body FROM rec_raw ORDER BY pos")]
    oracle = [
        _compact(list(p.values()) if fields is not None and tuple(p) == fields else p)
        for p in batch
    ]
    assert bodies == oracle * 2


def test_a_payload_that_is_no_mapping_is_refused_with_evidence(log):
    log.append(S, "raw", {"t": 1.0})
    with pytest.raises(EnvelopeError) as err:
        log.append_batch(S, "raw", [{"t": 2.0}, ["not", "a", "mapping"], {"t": 3.0}])
    assert err.value.evidence == ["not", "a", "mapping"]
    assert [s["produced"] for s in log.streams()] == [1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, object(), {1, 2}])
def test_an_unencodable_payload_names_itself_and_nothing_of_the_batch_is_written(log, bad):
    log.append(S, "raw", {"t": 1.0})
    culprit = {"t": bad}
    with pytest.raises(EnvelopeError, match="JSON") as err:
        log.append_batch(S, "raw", [{"t": 2.0}, culprit, {"t": 3.0}])
    assert err.value.evidence is culprit
    with pytest.raises(EnvelopeError) as err:
        log.append_records([NewRecord(S, "raw", {"t": 2.0}), NewRecord("env/x@1", "raw", culprit)])
    assert err.value.evidence is culprit
    assert {s["stream"]: s["produced"] for s in log.streams()} == {S: 1}
    assert log.append(S, "raw", {"t": 4.0}) == 2


def test_mixed_batch_keeps_record_order_and_per_record_timestamps(log):
    log.register_consumer("c")
    recs = [
        NewRecord(S, "raw", {"t": 1}, mono_ns=10, wall_ms=1000),
        NewRecord("env/b@1", "raw", {"h": 5}, mono_ns=11, wall_ms=1001),
        NewRecord(S, "raw", {"t": 2}, mono_ns=12, wall_ms=1002),
        NewRecord("alarm/x@1", "alert", {"level": "hi"}, mono_ns=13, wall_ms=1003),
        NewRecord(S, "raw", {"t": 3, "extra": True}, mono_ns=14, wall_ms=1004),
    ]
    assert log.append_records(recs) == [1, 1, 2, 1, 3]
    got = log.read("c")
    assert [(r.stream, r.seq, r.mono_ns, r.wall_ms, dict(r.payload)) for r in got] == [
        ("alarm/x@1", 1, 13, 1003, {"level": "hi"}),
        (S, 1, 10, 1000, {"t": 1}),
        ("env/b@1", 1, 11, 1001, {"h": 5}),
        (S, 2, 12, 1002, {"t": 2}),
        (S, 3, 14, 1004, {"t": 3, "extra": True}),
    ]
    assert got.cursor() == {"alert": got.positions[0], "raw": got.positions[-1]}


def test_body_items_use_the_field_list_only_for_the_same_keys_in_the_same_order():
    fields = ("a", "b")
    assert body_items(fields, [{"a": 1, "b": 2}, {"a": 3, "b": 4}]) == [[1, 2], [3, 4]]
    assert body_items(fields, [{"a": 1, "b": 2}, {"b": 4, "a": 3}]) == [[1, 2], {"b": 4, "a": 3}]
    assert body_items(None, [{"a": 1}]) == [{"a": 1}]
    proxy = type("P", (dict,), {})(a=1, b=2)  # a dict subclass takes the per-record path
    assert body_items(fields, [proxy]) == [[1, 2]]


def test_encode_items_is_the_json_module_and_names_the_culprit():
    items = [[1.5, "é"], {"k": [None, True]}]
    assert encode_items(items, items) == _compact(items)
    with pytest.raises(EnvelopeError) as err:
        encode_items([[1], [math.nan]], ["first", "second"])
    assert err.value.evidence == "second"


def test_payloads_of_pairs_fields_with_values_and_keeps_objects():
    assert payloads_of(("a", "b"), [[1, 2], [3, 4]]) == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert payloads_of(("a",), [[1], {"z": 0}]) == [{"a": 1}, {"z": 0}]
    with pytest.raises(ValueError):
        payloads_of(("a", "b"), [[1, 2], [3]])  # a body that does not fit its fields


def test_make_records_equals_the_record_constructor():
    cols = {
        "device": ["d1", "d2"],
        "stream": ["s1", "s2"],
        "seq": [1, 2],
        "cls": ["raw", "event"],
        "mono_ns": [10, 20],
        "wall_ms": [100, 200],
        "clock_synced": [True, False],
        "payload": [{"a": 1}, {}],
        "schema": [1, 1],
        "wall_corrected_ms": [None, 150],
    }
    built = make_records(2, **cols)
    expected = [Record(*(cols[k][i] for k in cols)) for i in range(2)]
    assert built == expected
    assert [repr(r) for r in built] == [repr(r) for r in expected]
    with pytest.raises(AttributeError):
        built[0].seq = 5  # still frozen
    with pytest.raises(ValueError):
        make_records(2, **{**cols, "seq": [1]})  # a short column never leaves a slot unset
    with pytest.raises(TypeError):
        make_records(2, **{k: v for k, v in cols.items() if k != "schema"})


def test_in_position_order_sorts_rows_that_arrive_out_of_order():
    ordered = [[1, 2, 3], ["a", "b", "c"]]
    assert in_position_order(ordered) is ordered
    assert in_position_order([[3, 1, 2], ["c", "a", "b"]]) == [[1, 2, 3], ["a", "b", "c"]]


def test_cursor_is_the_highest_position_per_class():
    rec = Record("d", "s", 1, "raw", 0, 0, True)
    alert = Record("d", "a", 1, "alert", 0, 0, True)
    assert ReadBatch([rec, rec], [5, 9]).cursor() == {"raw": 9}
    assert ReadBatch([alert, rec, rec], [7, 3, 4]).cursor() == {"alert": 7, "raw": 4}
    assert ReadBatch().cursor() == {}
    with pytest.raises(ValueError):
        ReadBatch([rec, rec], [1]).cursor()


def test_an_sqlite_without_returning_is_refused_at_open_with_its_version(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(LogError, match="3.34.1 is too old"):
        require_sqlite(conn, (3, 34, 1))
    require_sqlite(conn, sqlite3.sqlite_version_info)  # this one is fine
    conn.close()
