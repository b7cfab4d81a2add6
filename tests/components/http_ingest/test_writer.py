"""The group-commit writer: many requests, one transaction; one bad request fails alone."""

from __future__ import annotations

import asyncio

import pytest

from components.core.clock import ManualClock
from components.core.envelope import EnvelopeError
from components.core.log import BudgetExceeded, KeyedAppend, Log, NewRecord
from components.http_ingest.writer import CommitWriter


def group(i, stream="plc_counter/http@plc-1", key=None):
    return KeyedAppend(key, [NewRecord(stream, "event", {"i": i}, device="plc-1")])


@pytest.fixture
def lg(tmp_path):
    with Log.open(tmp_path / "log.db", device="gw", clock=ManualClock(), free_floor_bytes=0) as lg:
        yield lg


def test_waiting_requests_share_one_commit_and_each_gets_its_own_results(lg):
    writer = CommitWriter(lg)

    async def main():
        tasks = [asyncio.create_task(writer.submit([group(i)])) for i in range(50)]
        await asyncio.sleep(0)  # all fifty are queued before the writer starts
        writer.start()
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    writer.stop()
    assert [r[0].identities[0][2] for r in results] == list(range(1, 51))
    assert writer.stats.commits == 1 and writer.stats.largest_commit_requests == 50


def test_a_failing_request_is_isolated_from_its_neighbours(lg):
    writer = CommitWriter(lg)

    async def main():
        good1 = asyncio.create_task(writer.submit([group(1)]))
        bad = asyncio.create_task(writer.submit([group(2, stream="no stream")]))
        good2 = asyncio.create_task(writer.submit([group(3, key="k")]))
        await asyncio.sleep(0)
        writer.start()
        return await asyncio.gather(good1, bad, good2, return_exceptions=True)

    r1, rbad, r3 = asyncio.run(main())
    writer.stop()
    assert isinstance(rbad, EnvelopeError)
    assert r1[0].identities == [("plc-1", "plc_counter/http@plc-1", 1)]
    assert r3[0].identities == [("plc-1", "plc_counter/http@plc-1", 2)]
    assert writer.stats.split_commits == 1 and writer.stats.failed_requests == 1
    assert [r.payload["i"] for r in lg.snapshot_records(["event"])] == [1, 3]


def test_commit_cap_splits_a_flood_into_several_transactions(lg):
    writer = CommitWriter(lg, max_commit_records=10)

    async def main():
        tasks = [asyncio.create_task(writer.submit([group(i)])) for i in range(35)]
        await asyncio.sleep(0)
        writer.start()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    writer.stop()
    assert writer.stats.commits == 4 and writer.stats.records == 35


def test_a_refused_request_is_counted_once_and_its_neighbour_still_commits(tmp_path):
    small_log = Log.open(
        tmp_path / "small.db", device="gw", budget_bytes=1 << 20, free_floor_bytes=0
    )
    filler = [NewRecord("blob/http@plc-1", "event", {"pad": "x" * 4000}, device="plc-1")] * 40
    while True:  # fill to within ~160 kB of the limit
        try:
            small_log.append_records(filler, may_evict_own_class=False)
        except BudgetExceeded:
            break
    writer = CommitWriter(small_log)
    big = KeyedAppend(None, [NewRecord("blob/http@plc-1", "event", {"pad": "y" * 4000},
                                       device="plc-1")] * 60)

    async def main():
        refused = asyncio.create_task(writer.submit([big]))
        fits = asyncio.create_task(writer.submit([group(1)]))
        await asyncio.sleep(0)
        writer.start()
        return await asyncio.gather(refused, fits, return_exceptions=True)

    before = small_log.stats()["counters"]["rejected_full.event"]
    r_big, r_small = asyncio.run(main())
    writer.stop()
    assert isinstance(r_big, BudgetExceeded)
    assert r_small[0].identities == [("plc-1", "plc_counter/http@plc-1", 1)]
    assert small_log.stats()["counters"]["rejected_full.event"] - before == 60
    assert writer.stats.split_commits == 1
    small_log.close()
