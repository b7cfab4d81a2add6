"""The delivery stream's steps as the local lake runs them: JSON de-aggregation, partition
keys, the Glue table's columns."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.lake import firehose
from cloud.lake.rows import COLUMNS

ROW = {c.name: None for c in COLUMNS} | {"device": "d", "seq": 1, "site": "s", "dt": "2026-01-01"}


@pytest.mark.parametrize(
    "record",
    [
        b'{"a":1}\n{"b":"x\\ny"}\n',  # one per line, as the decoder packs them
        b'{"a":1}{"b":"x\\ny"}',  # back to back
        b' {"a":1}\r\n\t{"b":"x\\ny"} ',  # any whitespace between
    ],
)
def test_objects_come_out_whatever_separates_them(record: bytes) -> None:
    assert list(firehose.deaggregate(record)) == [{"a": 1}, {"b": "x\ny"}]


@given(st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=8) | st.integers()),
                max_size=5), st.sampled_from(["\n", "", " ", "\r\n"]))  # fmt: skip
def test_any_objects_round_trip(objs: list[dict], sep: str) -> None:
    record = sep.join(json.dumps(o) for o in objs).encode()
    assert list(firehose.deaggregate(record)) == objs


@pytest.mark.parametrize("record", [b'{"a":1}\n[1]', b'{"a":', b"\xff", b'{"a":1} x'])
def test_what_is_not_concatenated_objects_fails_the_record(record: bytes) -> None:
    with pytest.raises(firehose.ProcessingFailed):
        list(firehose.deaggregate(record))


def test_only_the_tables_columns_reach_the_files_keys_go_to_the_path() -> None:
    (row,) = firehose.deliver(json.dumps({**ROW, "extra": 5}).encode())
    assert row.keys == ("s", "2026-01-01")
    assert list(row.columns) == [c.name for c in COLUMNS]
    partial = {k: v for k, v in ROW.items() if k != "wall_corrected_ms"}
    assert firehose.delivered(partial).columns["wall_corrected_ms"] is None
    with pytest.raises(firehose.ProcessingFailed, match="partition keys"):
        firehose.delivered({**ROW, "dt": None})
