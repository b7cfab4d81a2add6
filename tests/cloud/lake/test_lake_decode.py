"""The decode-and-route step the decoder Lambda and the local lake run, fed real uplink
batches from components.core.batch."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.cdk.columns import COLUMNS
from cloud.lake import decode
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


def kinesis_event(*datas: bytes, arrival_ms: int = ARRIVAL) -> dict:
    return {
        "Records": [
            {
                "kinesis": {
                    "sequenceNumber": f"seq-{i}",
                    "approximateArrivalTimestamp": arrival_ms / 1000,
                    "data": base64.b64encode(d).decode(),
                }
            }
            for i, d in enumerate(datas)
        ]
    }


class FakeFirehose:
    """Stands in for PutRecordBatch: can refuse the first `refuse` records of its next call,
    or every record. Keeps what it accepted, split as Firehose's JSON de-aggregation does."""

    def __init__(self, refuse: int = 0, always_fail: bool = False) -> None:
        self.calls: list[list[bytes]] = []
        self.accepted: list[bytes] = []
        self.refuse = refuse
        self.always_fail = always_fail

    def __call__(self, records: list[bytes]) -> list[bool]:
        self.calls.append(list(records))
        ok = [not self.always_fail and i >= self.refuse for i in range(len(records))]
        self.refuse = 0
        self.accepted += [rec for rec, good in zip(records, ok, strict=True) if good]
        return ok

    def delivered_rows(self) -> list[dict]:
        return [json.loads(line) for rec in self.accepted for line in rec.decode().splitlines()]


class FakeBucket(dict):
    def __call__(self, key: str, data: bytes, reason: str) -> None:
        assert reason
        self[key] = data


def run(event: dict, fh: FakeFirehose | None = None, bucket: FakeBucket | None = None) -> dict:
    return decode.process(
        event, fh or FakeFirehose(), bucket if bucket is not None else FakeBucket()
    )


def test_batch_becomes_rows_with_glue_columns_types_and_partitions() -> None:
    recs = records(50)
    fh = FakeFirehose()
    answer = run(kinesis_event(batch.encode(recs, site="plant-a")), fh)
    assert answer == {"batchItemFailures": []}
    rows = fh.delivered_rows()
    assert [(r["device"], r["stream"], r["seq"]) for r in rows] == [r.identity for r in recs]
    for row in rows:
        assert list(row)[:-2] == [name for name, _, _ in COLUMNS]  # the table's columns...
        assert (row["site"], row["dt"]) == ("plant-a", "2026-02-10")  # ...+ partitions
        assert row["ingest_ms"] == ARRIVAL
        for name, glue_type, _ in COLUMNS:
            if row[name] is not None:
                assert type(row[name]) is GLUE_PY_TYPES[glue_type], (name, row[name])
    assert json.loads(rows[3]["payload"]) == recs[3].payload


def test_rows_are_partitioned_by_their_own_day() -> None:
    recs = records(10, start_ms=BUILD_EPOCH_MS + 41 * DAY_MS - 5_000)  # crosses midnight
    fh = FakeFirehose()
    run(kinesis_event(batch.encode(recs, site="plant-a")), fh)
    dates = [r["dt"] for r in fh.delivered_rows()]
    assert dates == ["2026-02-10"] * 5 + ["2026-02-11"] * 5


def test_unsynced_clock_rows_go_to_the_arrival_day() -> None:
    recs = records(5, start_ms=1_000, synced=False)  # a Pi that booted without time
    fh = FakeFirehose()
    run(kinesis_event(batch.encode(recs, site="plant-b")), fh)
    assert {r["dt"] for r in fh.delivered_rows()} == {"2026-02-17"}


def test_packing_respects_firehose_limits() -> None:
    rows = [decode.row(r, "plant-a", ARRIVAL) for r in records(1234)]
    packed = decode.pack(rows)
    counts = [len(p.splitlines()) for p in packed]
    assert counts == [500, 500, 234]
    assert all(len(p) <= decode.RECORD_MAX_BYTES for p in packed)
    calls = decode.put_batches([b"x" * 900_000] * 9)
    assert [len(c) for c in calls] == [4, 4, 1]  # 4 MiB per PutRecordBatch
    assert len(decode.put_batches([b"x"] * 1200)) == 3  # 500 records per call


def test_refused_records_are_retried_then_reported() -> None:
    data = batch.encode(records(30), site="plant-a")
    fh = FakeFirehose(refuse=1)
    assert run(kinesis_event(data), fh) == {"batchItemFailures": []}
    assert len(fh.calls) == 2 and len(fh.calls[1]) == 1
    down, sleeps = FakeFirehose(always_fail=True), []
    answer = decode.process(kinesis_event(data, data), down, FakeBucket(), sleeps.append)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "seq-0"}]}  # Lambda retries
    assert len(down.calls) == decode.PUT_ATTEMPTS
    assert sleeps == [decode.PUT_BACKOFF_S * 2**i for i in range(decode.PUT_ATTEMPTS - 1)]


def test_bad_batches_are_quarantined_counted_and_good_ones_still_flow(capsys) -> None:
    good = batch.encode(records(3), site="plant-a")
    bad = [b"not a batch", good[:-7], batch.encode(records(2), site="a/b")]
    fh, bucket = FakeFirehose(), FakeBucket()
    answer = run(kinesis_event(good, *bad), fh, bucket)
    assert answer == {"batchItemFailures": []}
    assert len(fh.delivered_rows()) == 3
    assert bucket == {f"decode-failed/2026-02-17/seq-{i + 1}.flb": d for i, d in enumerate(bad)}
    out = capsys.readouterr().out
    assert out.count("event=record_rejected") == 3
    assert "rejected=3" in out


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes) -> None:
    fh, bucket = FakeFirehose(), FakeBucket()
    assert run(kinesis_event(data), fh, bucket) == {"batchItemFailures": []}
    assert len(bucket) + len(fh.accepted) == 1  # delivered or quarantined, never dropped


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=255))
def test_corrupted_batches_fail_cleanly(position: int, value: int) -> None:
    data = bytearray(batch.encode(records(20), site="plant-a"))
    data[position % len(data)] = value
    fh, bucket = FakeFirehose(), FakeBucket()
    assert run(kinesis_event(bytes(data)), fh, bucket) == {"batchItemFailures": []}
    assert len(bucket) + len(fh.accepted) == 1


@settings(max_examples=150, deadline=None)
@given(
    walls=st.lists(st.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=20),
    synced=st.booleans(),
)
def test_any_clock_value_lands_somewhere(walls: list[int], synced: bool) -> None:
    """Valid batches with absurd clocks still decode and land (or are quarantined): a raise here
    would fail the whole shard on every retry."""
    recs = [
        Record(
            device="dev-7",
            stream="env/x@1",
            seq=i + 1,
            cls="raw",
            mono_ns=i,
            wall_ms=w,
            clock_synced=synced,
            payload={"v": i},
        )
        for i, w in enumerate(walls)
    ]
    fh, bucket = FakeFirehose(), FakeBucket()
    assert run(kinesis_event(batch.encode(recs, site="plant-a")), fh, bucket) == {
        "batchItemFailures": []
    }
    rows = fh.delivered_rows()
    assert len(rows) + len(bucket) * len(recs) == len(recs)
    for r in rows:
        assert len(r["dt"]) == 10


def test_utc_date_is_utc() -> None:
    ms = int(datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)
    assert decode.utc_date(ms) == "2026-03-01"
    assert decode.utc_date(ms + 1000) == "2026-03-02"


def test_rows_equal_the_local_lakes_rows() -> None:
    """Once cloud/lake is present: the cloud decoder and the local lake write the same rows."""
    schema = pytest.importorskip("cloud.lake.schema")
    recs = [*records(3), *records(2, start_ms=1_000, synced=False)]
    for rec in recs:
        ours = decode.row(rec, "plant-a", ARRIVAL)
        theirs = schema.row(rec, ARRIVAL)
        assert {k: v for k, v in ours.items() if k not in ("site", "dt")} == theirs
        assert ours["dt"] == schema.partition_date(rec, ARRIVAL)


def alert_delivery(rec: Record, **extra: object) -> bytes:
    """An alert as the floorline_alerts rule puts it on the stream: the envelope + site."""
    doc = {**rec.to_dict(), "site": "plant-a", "received_ms": ARRIVAL, **extra}
    return json.dumps(doc).encode()


def test_alerts_from_the_alert_rule_become_rows_like_batched_records() -> None:
    rec = dataclasses.replace(records(1)[0], cls="alert")
    fh, bucket = FakeFirehose(), FakeBucket()
    assert run(kinesis_event(alert_delivery(rec)), fh, bucket) == {"batchItemFailures": []}
    assert fh.delivered_rows() == [decode.row(rec, "plant-a", ARRIVAL)] and not bucket
    assert decode.kind_of(alert_delivery(rec)) == decode.ALERT


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (alert_delivery(records(1)[0]), "only alerts travel as JSON"),  # a raw record as JSON
        (b'{"schema": 1, "seq": Infinity}', "non-finite"),
        (b"[1, 2]", "neither"),
        (b"{" * 100_000, "not JSON"),
    ],
)
def test_json_that_is_not_an_alert_is_quarantined_with_its_reason(data: bytes, why: str) -> None:
    reasons: list[str] = []
    fh = FakeFirehose()
    answer = decode.process(kinesis_event(data), fh, lambda k, d, r: reasons.append(r))
    assert answer == {"batchItemFailures": []} and not fh.accepted
    assert len(reasons) == 1 and why in reasons[0], reasons
