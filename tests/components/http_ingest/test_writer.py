"""Group commit (many requests, one transaction; one bad request fails alone) and the commit
process that runs it beside the HTTP process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core.clock import ManualClock
from components.core.envelope import EnvelopeError
from components.core.log import BudgetExceeded, KeyedAppend, Log, NewRecord
from components.http_ingest.answers import Answer
from components.http_ingest.commit_process import (
    CommitFailed,
    CommitProcess,
    answer_from_wire,
    answer_to_wire,
    frame,
    split_frames,
)
from components.http_ingest.config import SPEC
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
    big = KeyedAppend(
        None, [NewRecord("blob/http@plc-1", "event", {"pad": "y" * 4000}, device="plc-1")] * 60
    )
    before = small_log.stats()["counters"]["rejected_full.event"]
    r_big, r_small = committer.commit([[big], [group(1)]])
    assert isinstance(r_big, BudgetExceeded)
    assert r_small[0].identities == [("plc-1", "plc_counter/http@plc-1", 1)]
    assert small_log.stats()["counters"]["rejected_full.event"] - before == 60
    assert committer.stats.split_commits == 1
    small_log.close()


# ---------------------------------------------------------------------- the wire
jobs = st.lists(
    st.tuples(
        st.integers(0, 2**40),
        st.text(max_size=8),
        st.none() | st.text(max_size=10),
        st.binary(max_size=300),
    ),
    max_size=5,
)


@settings(max_examples=100, deadline=None)
@given(jobs=jobs, cut=st.integers(0, 5000))
def test_bodies_of_any_bytes_survive_the_wire_cut_anywhere(jobs, cut):
    sent = [[i, d, k, raw.decode("latin-1")] for i, d, k, raw in jobs]
    stream = frame(["jobs", sent]) + frame(["settings", {"a": 1}])
    buffer = bytearray(stream[:cut])
    got = split_frames(buffer)
    buffer += stream[cut:]
    got += split_frames(buffer)
    assert not buffer
    assert got[1] == ["settings", {"a": 1}]
    assert [(i, d, k, raw.encode("latin-1")) for i, d, k, raw in got[0][1]] == jobs


@given(body=st.binary(max_size=200), headers=st.lists(st.tuples(st.text(), st.text()), max_size=3))
def test_answers_survive_the_wire(body, headers):
    answer = Answer(429, body, tuple(headers))
    wire = json.loads(frame(["done", [answer_to_wire(3, answer)], {}])[4:])
    assert answer_from_wire(wire[1][0]) == answer


# ---------------------------------------------------------------------- the process
def commit_config(path, **more):
    return SPEC.parse({"logPath": str(path), "freeDiskFloorBytes": 0, **more})


def body(i, device="plc-1"):
    return json.dumps({"device": device, "type": "counter", "data": {"i": i}}).encode()


@pytest.mark.slow
def test_the_commit_process_checks_commits_and_answers_each_request(tmp_path):
    path = tmp_path / "log.db"
    cfg = commit_config(path, maxCommitRecords=10, acceptUnknownTypes=True)

    async def main():
        proc = CommitProcess(cfg, "gw")
        proc.configure(cfg)
        await proc.start()
        answers = await asyncio.gather(*(proc.submit("plc-1", None, body(i)) for i in range(35)))
        first = await proc.submit("plc-1", "k1", body(99))
        again = await proc.submit("plc-1", "k1", body(99))
        reused = await proc.submit("plc-1", "k1", body(100))
        refused = await asyncio.gather(
            proc.submit("plc-1", None, b"{not json"),
            proc.submit("plc-1", None, body(1, device="plc-2")),
            proc.submit("plc-1", None, json.dumps({"device": "plc-1", "data": {}}).encode()),
        )
        stats, counters = proc.stats, proc.counters
        await proc.stop()
        return answers, first, again, reused, refused, stats, counters

    answers, first, again, reused, refused, stats, counters = asyncio.run(main())
    assert {a.status for a in answers} == {202}
    seqs = [json.loads(a.body)["results"][0]["seq"] for a in answers]
    assert seqs == list(range(1, 36))
    (was,), (now,) = json.loads(first.body)["results"], json.loads(again.body)["results"]
    assert (was["seq"], was["replayed"]) == (36, False)
    assert now == {**was, "replayed": True} and json.loads(again.body)["replayed"]
    assert reused.status == 422
    assert [a.status for a in refused] == [400, 403, 400]
    assert stats.requests == 38 and stats.commits >= 4  # at most 10 records a commit
    assert counters["records_accepted"] == 36 and counters["records_replayed"] == 1
    assert counters["bad_body"] == 1 and counters["forbidden"] == 1
    assert counters["records_rejected"] == 1 and counters["idempotency_conflicts"] == 1
    with Log.open(path, device="gw", free_floor_bytes=0) as lg:
        assert [r.payload["data"]["i"] for r in lg.snapshot_records(["event"])] == [*range(35), 99]


@pytest.mark.slow
def test_settings_apply_to_the_bodies_sent_after_them(tmp_path):
    cfg = commit_config(tmp_path / "log.db", acceptUnknownTypes=True)

    async def main():
        proc = CommitProcess(cfg, "gw")
        proc.configure(cfg)
        await proc.start()
        before = await proc.submit("plc-1", None, body(1))
        proc.configure(replace(cfg, acceptUnknownTypes=False))
        after = await proc.submit("plc-1", None, body(2))
        await proc.stop()
        return before.status, json.loads(after.body)["results"][0]["errors"]

    before, errors = asyncio.run(main())
    assert before == 202 and errors == ["unknown record type 'counter' (no schema configured)"]


@pytest.mark.slow
def test_a_dead_commit_process_fails_the_waiting_requests_and_says_so(tmp_path):
    cfg = commit_config(tmp_path / "log.db")

    async def main():
        proc = CommitProcess(cfg, "gw")
        proc.configure(cfg)
        await proc.start()
        assert proc._proc is not None
        os.kill(proc._proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.died.wait(), 10)
        with pytest.raises(CommitFailed):
            await proc.submit("plc-1", None, body(1))
        await proc.stop()

    asyncio.run(main())


class _Broken:
    def errors(self, data):
        raise RuntimeError("validator bug")


def test_a_fault_while_checking_costs_one_request_a_500_not_the_process():
    from components.core.clock import SystemClock
    from components.http_ingest.commit_process import _prepare
    from components.http_ingest.intake import INTAKE_KEYS, Intake, Plan

    cfg = SPEC.parse({"acceptUnknownTypes": True})
    intake = Intake({k: getattr(cfg, k) for k in INTAKE_KEYS}, SystemClock())
    intake.validators = {"broken": _Broken()}  # a fault no valid configuration can cause
    bad = json.dumps({"device": "plc-1", "type": "broken", "data": {}}).encode()
    answer = _prepare(intake, "plc-1", None, bad)
    assert isinstance(answer, Answer) and answer.status == 500
    assert intake.counters["internal_errors"] == 1
    assert isinstance(_prepare(intake, "plc-1", None, body(1)), Plan)  # the next one is fine
    assert _prepare(None, "plc-1", None, body(1)).status == 503  # no settings yet
