"""The local lake writes each record once, partitioned by site and date, read back by DuckDB."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.lake import store as store_module
from cloud.lake.query import query
from cloud.lake.schema import ARROW_SCHEMA
from cloud.lake.store import Lake
from components.core import batch
from components.core.clock import ManualClock
from components.core.envelope import Record

Factory = Callable[..., list[Record]]
DAY_MS = 86_400_000
T0_MS = 1_795_000_000_000  # 2026-11-18, where make_records starts by default


def rows_of(lake: Lake) -> list[tuple]:
    sql = (
        "SELECT site, dt, device, stream, seq, cls, wall_ms, event_ms, clock_synced, payload "
        "FROM telemetry ORDER BY device, stream, seq"
    )
    return query(lake, sql)[1]


def test_batch_lands_as_rows_read_back_by_duckdb(lake: Lake, make_records: Factory) -> None:
    records = make_records(count=30)
    result = lake.ingest([batch.encode(records, site="plant-7")])
    assert (result.records, result.rows_written, result.duplicates) == (30, 30, 0)
    rows = rows_of(lake)
    assert rows == [
        (
            "plant-7",
            "2026-11-18",
            r.device,
            r.stream,
            r.seq,
            r.cls,
            r.wall_ms,
            r.wall_ms,
            True,
            json.dumps(dict(r.payload), separators=(",", ":")),
        )
        for r in records
    ]
    (path,) = (lake.root / "telemetry").rglob("*.parquet")
    assert path.parent.as_posix().endswith("telemetry/site=plant-7/dt=2026-11-18")


def test_duplicates_are_dropped_by_identity_across_calls_and_reopen(
    tmp_path: Path, clock: ManualClock, make_records: Factory
) -> None:
    first = batch.encode(make_records(count=20), site="s1")
    overlapping = batch.encode(make_records(count=20, start_seq=11), site="s1")  # seqs 11..30
    with Lake(tmp_path, clock=clock) as lake:
        assert lake.ingest([first, first]).duplicates == 20  # twice in one call
    with Lake(tmp_path, clock=clock) as lake:  # the seen identities are durable
        result = lake.ingest([overlapping, first])
        assert (result.rows_written, result.duplicates) == (10, 30)
        seqs = [row[4] for row in rows_of(lake)]
        assert seqs == list(range(1, 31))
        assert lake.stats()["duplicates_dropped"] == 50


def test_partitions_by_site_and_event_date(lake: Lake, make_records: Factory) -> None:
    two_days = make_records(count=2, wall_ms=T0_MS, step_ms=DAY_MS)
    other_site = make_records(device="dev-002", count=1)
    lake.ingest([batch.encode(two_days, site="s1"), batch.encode(other_site, site="s2")])
    partitions = query(lake, "SELECT DISTINCT site, dt FROM telemetry ORDER BY ALL")[1]
    assert partitions == [("s1", "2026-11-18"), ("s1", "2026-11-19"), ("s2", "2026-11-18")]


def test_unsynced_clock_uses_arrival_date(lake: Lake, make_records: Factory) -> None:
    """A Pi without RTC may believe it is 1970: such records go under the arrival date."""
    lost = make_records(count=1, wall_ms=5_000, synced=False)
    lake.ingest([batch.encode(lost, site="s1")])
    assert query(lake, "SELECT dt, wall_ms FROM telemetry")[1] == [("2026-11-19", 5_000)]


def test_bad_batches_are_quarantined_with_reason(lake: Lake, make_records: Factory) -> None:
    good = batch.encode(make_records(count=3), site="s1")
    alert = make_records(cls="alert", count=1)[0].to_dict()
    unsited = json.dumps(alert).encode()  # an alert envelope without the rule's `site`
    result = lake.ingest([b"not a batch", good, good[:-4], b"{not json", unsited])
    assert (result.quarantined, result.rows_written) == (4, 3)
    # Where the decoder Lambda puts them in the lake bucket: the arrival day, the sequence.
    folder = lake.root / "decode-failed" / "2026-11-19"
    kept = sorted(p.name for p in folder.iterdir())
    rejected = [1, 3, 4, 5]  # local sequence numbers, in the order fed
    assert kept == sorted(f"{n:020d}.flb{why}" for n in rejected for why in ("", ".why"))
    assert (folder / f"{1:020d}.flb").read_bytes() == b"not a batch"
    reasons = [(folder / f"{n:020d}.flb.why").read_text() for n in rejected]
    assert "BatchError" in reasons[1] and "not JSON" in reasons[2] and "site" in reasons[3]
    assert lake.stats()["quarantined_batches"] == 4


def test_alert_envelopes_from_the_alert_rule_are_rows(lake: Lake, make_records: Factory) -> None:
    alert = make_records(cls="alert", stream="vib/adxl345@0x53", count=1)[0]
    delivered = json.dumps({**alert.to_dict(), "site": "s1", "received_ms": 1}).encode()
    assert lake.ingest([delivered, delivered]).rows_written == 1
    assert query(lake, "SELECT site, device, cls, seq FROM telemetry")[1] == [
        ("s1", "dev-001", "alert", 1)
    ]


def test_crash_after_commit_is_finished_on_open(
    tmp_path: Path, clock: ManualClock, make_records: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the commit and the rename: the data is committed, so it must appear."""
    data = batch.encode(make_records(count=5), site="s1")
    with Lake(tmp_path, clock=clock) as lake:

        def crash(src: object, dst: object) -> None:
            raise SystemExit("power lost")

        monkeypatch.setattr(store_module.os, "replace", crash)
        with pytest.raises(SystemExit):
            lake.ingest([data])
        monkeypatch.undo()
    assert not list(tmp_path.rglob("*.parquet"))  # only the temporary file is on disk
    with Lake(tmp_path, clock=clock) as lake:
        assert [row[4] for row in rows_of(lake)] == [1, 2, 3, 4, 5]
        assert lake.ingest([data]).duplicates == 5
        assert lake.stats()["recovered_files"] == 1


def test_uncommitted_file_is_discarded_and_records_come_again(
    tmp_path: Path, clock: ManualClock, make_records: Factory
) -> None:
    """A temporary file the database does not know was never acknowledged: drop it on open."""
    partition = tmp_path / "telemetry" / "site=s1" / "dt=2026-11-18"
    partition.mkdir(parents=True)
    (partition / "part-1-abc.parquet.tmp").write_bytes(b"half written")
    with Lake(tmp_path, clock=clock) as lake:
        assert not list(partition.iterdir())
        assert lake.stats()["discarded_uncommitted_files"] == 1
        assert lake.ingest([batch.encode(make_records(count=2), site="s1")]).rows_written == 2


def test_failure_before_commit_leaves_nothing(
    lake: Lake, make_records: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(table: object, tmp: Path) -> None:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    data = batch.encode(make_records(count=3), site="s1")
    monkeypatch.setattr(store_module, "_write_parquet", disk_full)
    with pytest.raises(OSError, match="No space left"):
        lake.ingest([data])
    monkeypatch.undo()
    assert not list(lake.root.rglob("*.tmp")) and lake.stats()["identities"] == 0
    assert lake.ingest([data]).rows_written == 3  # nothing was marked as seen


def test_compaction_merges_small_files_and_keeps_every_row(
    lake: Lake, clock: ManualClock, make_records: Factory
) -> None:
    for start in range(1, 101, 10):
        clock.advance(1)
        lake.ingest([batch.encode(make_records(count=10, start_seq=start), site="s1")])
    before = rows_of(lake)
    assert len(list(lake.root.rglob("*.parquet"))) == 10
    result = lake.compact()
    assert (result.partitions, result.files_merged, result.files_written) == (1, 10, 1)
    (merged,) = lake.root.rglob("*.parquet")
    assert pq.read_schema(merged).remove_metadata() == ARROW_SCHEMA  # no path columns leak in
    assert rows_of(lake) == before
    assert lake.stats()["files"] == 1 and lake.stats()["files_compacted"] == 10
    assert lake.compact().files_merged == 0  # nothing left to merge


def test_interrupted_compaction_is_finished_on_open(
    tmp_path: Path, clock: ManualClock, make_records: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Lake(tmp_path, clock=clock) as lake:
        for start in (1, 11, 21):
            lake.ingest([batch.encode(make_records(count=10, start_seq=start), site="s1")])
        before = rows_of(lake)

        def crash(*args: object) -> None:
            raise SystemExit("power lost")

        monkeypatch.setattr(Lake, "_finish_compaction", crash)
        with pytest.raises(SystemExit):
            lake.compact()
        monkeypatch.undo()
    with Lake(tmp_path, clock=clock) as lake:
        assert len(list(tmp_path.rglob("*.parquet"))) == 1
        assert rows_of(lake) == before


def test_latest_state_has_the_dynamodb_item_shape(lake: Lake, make_records: Factory) -> None:
    lake.ingest([batch.encode(make_records(count=1), site="s1")])
    state = lake.latest_state()
    now = T0_MS + DAY_MS
    assert state == {
        "dev-001": {
            "device": "dev-001",
            "site": "s1",
            "last_seen_ms": now,
            "client_id": "dev-001",
            "expires_at_s": now // 1000 + 90 * 86400,
        }
    }
    assert query(lake, "SELECT device, site FROM latest_state")[1] == [("dev-001", "s1")]


def test_empty_lake_answers_queries(lake: Lake) -> None:
    assert query(lake, "SELECT count(*) FROM telemetry")[1] == [(0,)]
    with pytest.raises(duckdb.Error):
        query(lake, "SELECT nope FROM telemetry")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"FLB\x01\x00" + b))
def test_arbitrary_bytes_are_quarantined_never_raised(lake: Lake, data: bytes) -> None:
    result = lake.ingest([data])  # the property: no exception escapes, the input is kept
    assert result.quarantined == 1 and result.rows_written == 0


def test_decoded_records_can_be_ingested_directly(lake: Lake, make_records: Factory) -> None:
    records = make_records(count=4)
    assert lake.ingest_records("s1", records).rows_written == 4
    assert lake.ingest([batch.encode(records, site="s1")]).duplicates == 4
    with pytest.raises(batch.BatchError):
        lake.ingest_records("bad/site", records)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["d1", "d2"]), st.integers(1, 12),
                                   st.integers(1, 5)), min_size=1, max_size=4),
                min_size=1, max_size=4))  # fmt: skip
def test_every_identity_lands_once_whatever_the_overlaps(
    tmp_path_factory: pytest.TempPathFactory, make_records: Factory, calls: list
) -> None:
    """Calls of batches with overlapping seq ranges, repeated within and across calls: the
    lake holds each identity once, and rows written + duplicates = records offered."""
    with Lake(tmp_path_factory.mktemp("lake"), clock=ManualClock(wall_ms=T0_MS)) as lake:
        offered = written = duplicates = 0
        expected: set[tuple[str, int]] = set()
        for call in calls:
            batches = [batch.encode(make_records(device=dev, start_seq=start, count=count),
                                    site="s1") for dev, start, count in call]  # fmt: skip
            result = lake.ingest(batches)
            offered += sum(count for _, _, count in call)
            written += result.rows_written
            duplicates += result.duplicates
            expected |= {(dev, start + i) for dev, start, count in call for i in range(count)}
        got = [(row[2], row[4]) for row in rows_of(lake)]
        assert sorted(got) == sorted(expected)
        assert (written, written + duplicates) == (len(expected), offered)
