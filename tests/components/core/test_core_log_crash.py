"""The log under SIGKILL and concurrency: real processes, real SQLite files."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from components.core.log import Log

ROOT = Path(__file__).resolve().parents[3]
WRITER = Path(__file__).with_name("log_writer.py")


def _writer(
    db: Path, run: int, streams: int = 3, batch: int = 20, mode: str = "records"
) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(run), str(streams), str(batch), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _committed(proc: subprocess.Popen) -> int:
    """Highest reading index the writer reported as committed (-1 for none)."""
    last = -1
    for line in proc.stdout.read().splitlines():
        last = int(line.split()[1])
    return last


@pytest.mark.slow
def test_fifty_sigkills_lose_nothing_committed_and_duplicate_nothing(tmp_path):
    db = tmp_path / "log.db"
    rng = random.Random(20261122)
    kills = 50
    acknowledged: dict[int, int] = {}
    for run in range(kills):
        proc = _writer(db, run)
        # Wait for the first commit so every kill lands mid-ingest, then kill at a random point.
        first = proc.stdout.readline()
        assert first, "writer died before its first commit"
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        acknowledged[run] = max(int(first.split()[1]), _committed(proc))

    with Log.open(db, device="dev-kill", free_floor_bytes=0) as lg:
        records = list(lg.snapshot_records(["raw"]))
        streams = lg.streams()
    present = Counter((r.payload["run"], r.payload["i"]) for r in records)
    assert max(present.values()) == 1, "a reading is present twice"
    for run, last in acknowledged.items():
        missing = [i for i in range(last + 1) if (run, i) not in present]
        assert not missing, f"run {run}: committed readings {missing[:5]} lost"
    by_stream: dict[str, list[int]] = {}
    for r in records:
        by_stream.setdefault(r.stream, []).append(r.seq)
    for s in streams:
        seqs = sorted(by_stream[s["stream"]])
        assert seqs == list(range(1, s["produced"] + 1)), f"{s['stream']}: sequence has gaps"


@pytest.mark.slow
def test_two_writer_processes_and_a_consumer_at_once(tmp_path):
    db = tmp_path / "log.db"
    with Log.open(db, device="dev-kill", free_floor_bytes=0) as lg:
        lg.register_consumer("reader", classes=["raw"])
    writers = [_writer(db, run, streams=2, batch=10) for run in (1, 2)]
    for w in writers:  # both are writing before the clock starts (slow start-up under load)
        assert w.stdout.readline()
    seen: list[tuple[str, int, int, int]] = []
    deadline = time.monotonic() + 3.0
    with Log.open(db, device="dev-kill", free_floor_bytes=0) as lg:
        while time.monotonic() < deadline:
            b = lg.read("reader", limit=200)
            seen.extend((r.stream, r.seq, r.payload["run"], r.payload["i"]) for r in b)
            lg.ack("reader", b)
        for w in writers:
            w.send_signal(signal.SIGKILL)
            w.wait()
        while b := lg.read("reader", limit=1000):
            seen.extend((r.stream, r.seq, r.payload["run"], r.payload["i"]) for r in b)
            lg.ack("reader", b)
        streams = {s["stream"]: s["produced"] for s in lg.streams()}
    # Both writers wrote into the same two streams: sequence numbers interleave, gapless.
    by_stream: dict[str, list[int]] = {}
    for stream, seq, _run, _i in seen:
        by_stream.setdefault(stream, []).append(seq)
    assert set(by_stream) == set(streams)
    for stream, seqs in by_stream.items():
        assert seqs == list(range(1, streams[stream] + 1)), "consumer saw gaps or disorder"
    runs = Counter(run for _s, _q, run, _i in seen)
    assert runs[1] > 0 and runs[2] > 0
    assert len(set(seen)) == len(seen)


@pytest.mark.slow
def test_batches_of_one_stream_from_three_processes_interleave_gaplessly(tmp_path):
    """Two writer processes append whole batches to the same stream while this process does
    too: every process's sequence counters must come from the file, not from what it saw
    after its own previous batch."""
    db = tmp_path / "log.db"
    stream = "env/s0@0x76"
    with Log.open(db, device="dev-kill", free_floor_bytes=0) as lg:
        lg.register_consumer("reader", classes=["raw"])
        writers = [_writer(db, run, streams=1, batch=50, mode="batch") for run in (1, 2)]
        for w in writers:
            assert w.stdout.readline()
        mine: list[int] = []
        for i in range(40):  # warm stream cache, other processes writing in between
            payloads = [{"run": 0, "i": i * 7 + k} for k in range(7)]
            mine.extend(lg.append_batch(stream, "raw", payloads))
            time.sleep(0.002)
        for w in writers:
            w.send_signal(signal.SIGKILL)
            w.wait()
        assert mine == sorted(mine) and len(set(mine)) == len(mine)
        seen = []
        while b := lg.read("reader", limit=333):
            seen.extend((r.seq, r.payload["run"], r.payload["i"]) for r in b)
            lg.ack("reader", b)
        produced = {s["stream"]: s["produced"] for s in lg.streams()}[stream]
    # Log order is sequence order, gapless, and each batch is contiguous in it.
    assert [seq for seq, _run, _i in seen] == list(range(1, produced + 1))
    runs = Counter(run for _seq, run, _i in seen)
    assert runs[0] == 280 and runs[1] >= 50 and runs[2] >= 50
    mine_seen = [seq for seq, run, _i in seen if run == 0]
    assert mine_seen == mine
    for run in (1, 2):
        idx = [i for _seq, r, i in seen if r == run]
        assert idx == list(range(len(idx))), f"writer {run}: readings out of order or missing"
