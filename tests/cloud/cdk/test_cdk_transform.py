"""The Firehose transform Lambda, fed real uplink batches from components.core.batch."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.cdk.columns import COLUMNS
from cloud.cdk.transform import handler
from cloud.cdk.transform_asset import HANDLER_FILE, core_closure, transform_code_dir
from components.core import batch
from components.core.clock import BUILD_EPOCH_MS
from components.core.envelope import Record

DAY_MS = 86_400_000
T0 = BUILD_EPOCH_MS + 40 * DAY_MS + 3_600_000  # 2026-02-10T01:00Z
ARRIVAL = T0 + 7 * DAY_MS
GLUE_PY_TYPES = {"string": str, "bigint": int, "int": int, "boolean": bool}


def records(n: int, *, start_ms: int = T0, synced: bool = True, step_ms: int = 1000) -> list:
    return [
        Record(
            device="dev-7",
            stream="env/bme280@0x76",
            seq=i + 1,
            cls="raw",
            mono_ns=5_000_000_000 + i * step_ms * 1_000_000,
            wall_ms=start_ms + i * step_ms,
            clock_synced=synced,
            payload={"temperature_c": 20.5 + i / 10, "humidity_pct": 40 + i % 3},
        )
        for i in range(n)
    ]


def fh_record(data: bytes, record_id: str = "r-1", arrival_ms: int = ARRIVAL) -> dict:
    return {
        "recordId": record_id,
        "approximateArrivalTimestamp": arrival_ms,
        "data": base64.b64encode(data).decode(),
    }


def rows_of(answer: dict) -> list[dict]:
    text = base64.b64decode(answer["data"]).decode()
    return [json.loads(line) for line in text.splitlines()]


def test_batch_becomes_rows_with_glue_columns_and_types() -> None:
    recs = records(50)
    answer = handler.transform([fh_record(batch.encode(recs, site="plant-a"))])["records"][0]
    assert answer["result"] == "Ok" and answer["recordId"] == "r-1"
    rows = rows_of(answer)
    assert [(r["device"], r["stream"], r["seq"]) for r in rows] == [r.identity for r in recs]
    for row in rows:
        assert list(row) == [name for name, _, _ in COLUMNS]  # exactly the table's columns
        for name, glue_type, _ in COLUMNS:
            if row[name] is not None:
                assert type(row[name]) is GLUE_PY_TYPES[glue_type], (name, row[name])
    assert json.loads(rows[3]["payload"]) == recs[3].payload
    assert answer["metadata"]["partitionKeys"] == {"site": "plant-a", "date": "2026-02-10"}


def test_unsynced_clock_files_the_batch_under_its_arrival_day() -> None:
    recs = records(5, start_ms=1_000, synced=False)  # a Pi that booted without time
    answer = handler.transform([fh_record(batch.encode(recs, site="plant-b"))])["records"][0]
    assert answer["metadata"]["partitionKeys"]["date"] == "2026-02-17"


def test_batch_crossing_midnight_uses_its_first_records_day() -> None:
    recs = records(10, start_ms=BUILD_EPOCH_MS + 41 * DAY_MS - 5_000)
    answer = handler.transform([fh_record(batch.encode(recs, site="plant-a"))])["records"][0]
    assert answer["metadata"]["partitionKeys"]["date"] == "2026-02-10"
    assert len(rows_of(answer)) == 10


def test_each_record_answered_in_order_bad_ones_failed_with_original_bytes() -> None:
    good = batch.encode(records(3), site="plant-a")
    inputs = [
        fh_record(good, "a"),
        fh_record(b"not a batch", "b"),
        fh_record(good[:-7], "c"),  # truncated in transit
        {"recordId": "d", "approximateArrivalTimestamp": ARRIVAL, "data": "%%%"},
        fh_record(batch.encode(records(2), site="bad/site"), "e"),
    ]
    out = handler.transform(inputs)["records"]
    assert [o["recordId"] for o in out] == ["a", "b", "c", "d", "e"]
    assert [o["result"] for o in out] == ["Ok"] + ["ProcessingFailed"] * 4
    for given_, answer in zip(inputs[1:], out[1:], strict=True):
        assert answer["data"] == given_["data"]  # Firehose keeps it under processing-failed/


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_transform(data: bytes) -> None:
    (answer,) = handler.transform([fh_record(data)])["records"]
    assert answer["result"] in ("Ok", "ProcessingFailed")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=255))
def test_corrupted_batches_fail_cleanly(position: int, value: int) -> None:
    data = bytearray(batch.encode(records(20), site="plant-a"))
    data[position % len(data)] = value
    (answer,) = handler.transform([fh_record(bytes(data))])["records"]
    if answer["result"] == "Ok":
        assert len(rows_of(answer)) >= 1


def test_asset_holds_the_handler_and_only_the_core_modules_it_imports() -> None:
    assert core_closure(HANDLER_FILE) == ["batch", "clock", "envelope"]
    stage = transform_code_dir()
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*.py"))
    assert files == [
        "components/__init__.py",
        "components/core/__init__.py",
        "components/core/batch.py",
        "components/core/clock.py",
        "components/core/envelope.py",
        "handler.py",
    ]


def test_packaged_asset_runs_alone() -> None:
    """The staged asset decodes a batch in an interpreter that sees nothing but the asset."""
    stage = transform_code_dir()
    event = {"records": [fh_record(batch.encode(records(4), site="plant-a"))]}
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1]]; import handler; "
        "assert 'cloud' not in sys.modules; "
        "print(json.dumps(handler.handler(json.load(sys.stdin), None)))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(stage)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer == handler.transform(event["records"])


def test_utc_date_is_utc() -> None:
    ms = int(datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)
    assert handler.utc_date(ms) == "2026-03-01"
    assert handler.utc_date(ms + 1000) == "2026-03-02"
