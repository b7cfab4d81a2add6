"""Group commit (many requests, one transaction; one bad request fails alone) and the commit
process that runs it beside the HTTP process."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core.clock import ManualClock
from components.core.envelope import EnvelopeError
from components.core.log import BudgetExceeded, KeyedAppend, KeyedResult, Log, NewRecord
from components.http_ingest.commit_process import (
    CommitFailed,
    CommitProcess,
    frame,
    groups_from_wire,
    groups_to_wire,
    outcome_from_wire,
    outcome_to_wire,
    split_frames,
)
from components.http_ingest.writer import GroupCommitter


def group(i, stream="plc_counter/http@plc-1", key=None):
    return KeyedAppend(key, [NewRecord(stream, "event", {"i": i}, device="plc-1")])


@pytest.fixture
def lg(tmp_path):
    with Log.open(tmp_path / "log.db", device="gw", clock=ManualClock(), free_floor_bytes=0) as lg:
        yield lg


def test_requests_share_one_commit_and_each_gets_its_own_results(lg):
    committer = GroupCommitter(lg)
    outcomes = committer.commit([[group(i)] for i in range(50)])
    assert [o[0].identities[0][2] for o in outcomes] == list(range(1, 51))
    assert committer.stats.commits == 1 and committer.stats.largest_commit_requests == 50


def test_a_failing_request_is_isolated_from_its_neighbours(lg):
    committer = GroupCommitter(lg)
    r1, rbad, r3 = committer.commit(
        [[group(1)], [group(2, stream="no stream")], [group(3, key="k")]]
    )
    assert isinstance(rbad, EnvelopeError)
    assert r1[0].identities == [("plc-1", "plc_counter/http@plc-1", 1)]
    assert r3[0].identities == [("plc-1", "plc_counter/http@plc-1", 2)]
    assert committer.stats.split_commits == 1 and committer.stats.failed_requests == 1
    assert [r.payload["i"] for r in lg.snapshot_records(["event"])] == [1, 3]


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
    committer = GroupCommitter(small_log)
    big = KeyedAppend(None, [NewRecord("blob/http@plc-1", "event", {"pad": "y" * 4000},
                                       device="plc-1")] * 60)
    before = small_log.stats()["counters"]["rejected_full.event"]
    r_big, r_small = committer.commit([[big], [group(1)]])
    assert isinstance(r_big, BudgetExceeded)
    assert r_small[0].identities == [("plc-1", "plc_counter/http@plc-1", 1)]
    assert small_log.stats()["counters"]["rejected_full.event"] - before == 60
    assert committer.stats.split_commits == 1
    small_log.close()


# ---------------------------------------------------------------------- the wire
payloads = st.dictionaries(
    st.text(max_size=8), st.none() | st.integers() | st.text(max_size=20), max_size=4
)


@settings(max_examples=100, deadline=None)
@given(
    groups=st.lists(
        st.tuples(st.none() | st.text(min_size=1, max_size=10), st.text(max_size=8),
                  st.lists(payloads, min_size=1, max_size=4)),
        max_size=4,
    ),
    cut=st.integers(0, 5000),
)
def test_groups_and_frames_survive_the_wire_cut_anywhere(groups, cut):
    sent = [
        KeyedAppend(key, [NewRecord("s/http@d", "event", p, device="d") for p in ps], fp)
        for key, fp, ps in groups
    ]
    stream = frame(["jobs", [[7, groups_to_wire(sent)]]]) + frame(["settings", {"a": 1}])
    buffer = bytearray(stream[:cut])
    got = split_frames(buffer)
    buffer += stream[cut:]
    got += split_frames(buffer)
    assert not buffer
    assert got[1] == ["settings", {"a": 1}]
    assert groups_from_wire(got[0][1][0][1]) == sent


def test_outcomes_survive_the_wire():
    ok = [KeyedResult([("d", "s/http@d", 4)], True, "fp")]
    assert outcome_from_wire(outcome_to_wire(ok)) == ok
    full = outcome_from_wire(outcome_to_wire(BudgetExceeded("full", "event", 10, 9)))
    assert isinstance(full, BudgetExceeded) and (full.cls, full.used_bytes) == ("event", 10)
    other = outcome_from_wire(outcome_to_wire(EnvelopeError("bad stream")))
    assert isinstance(other, CommitFailed) and "EnvelopeError: bad stream" in str(other)


# ---------------------------------------------------------------------- the process
def commit_config(path):
    return {"logPath": str(path), "freeDiskFloorBytes": 0}


def test_the_commit_process_commits_groups_and_answers_each_request(tmp_path):
    path = tmp_path / "log.db"

    async def main():
        proc = CommitProcess(commit_config(path), "gw")
        proc.configure(max_commit_records=10, key_retention_s=60.0, max_keys=100)
        await proc.start()
        results = await asyncio.gather(*(proc.submit([group(i)]) for i in range(35)))
        replay = await proc.submit([group(99, key="k1")])
        again = await proc.submit([group(100, key="k1")])
        stats = proc.stats
        await proc.stop()
        return results, replay, again, stats

    results, replay, again, stats = asyncio.run(main())
    assert [r[0].identities[0][2] for r in results] == list(range(1, 36))
    assert again[0].replayed and again[0].identities == replay[0].identities
    assert stats.requests == 37 and stats.commits >= 5  # at most 10 records a commit
    with Log.open(path, device="gw", free_floor_bytes=0) as lg:
        assert [r.payload["i"] for r in lg.snapshot_records(["event"])] == [*range(35), 99]


def test_a_dead_commit_process_fails_the_waiting_requests_and_says_so(tmp_path):
    async def main():
        proc = CommitProcess(commit_config(tmp_path / "log.db"), "gw")
        await proc.start()
        assert proc._proc is not None
        os.kill(proc._proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.died.wait(), 10)
        with pytest.raises(CommitFailed):
            await proc.submit([group(1)])
        await proc.stop()

    asyncio.run(main())
