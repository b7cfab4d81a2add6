"""The lake process (Firehose's stand-in when deliveries are buffered): what is sent is
written once, garbage is quarantined, not fatal, and close waits for the last buffer."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.lake.query import query
from cloud.lake.store import Lake
from components.core.clock import SystemClock
from edge_sim.lake_process import LakeProcess, LakeProcessGone
from edge_sim.load_client import STREAM_NAMES, ReadingSynth

START_MS = 1_795_000_000_000


@pytest.mark.slow
def test_buffers_sent_to_the_lake_process_are_written_once(tmp_path: Path) -> None:
    synths = [ReadingSynth(f"load-{i:05d}", i) for i in range(3)]
    buffers = [[s.batch(n, START_MS + n * 1000, "site-load") for s in synths] for n in (1, 2)]
    lake = LakeProcess(tmp_path / "lake")
    lake.start()
    for batches in buffers:
        lake.send(batches)
    lake.send([buffers[0][0], b"not a batch"])  # a redelivery and garbage
    lake.close()
    assert lake.written == 8  # deliveries handled, the duplicate and the garbage included
    with Lake(tmp_path / "lake", clock=SystemClock()) as lk:
        _, rows = query(lk, "SELECT count(*), count(DISTINCT (device, stream, seq)) "
                            "FROM telemetry")  # fmt: skip
        stats = lk.stats()
    assert rows == [(6 * len(STREAM_NAMES), 6 * len(STREAM_NAMES))]
    assert stats["quarantined_batches"] == 1 and stats["duplicates_dropped"] == len(STREAM_NAMES)
    # What a progress display shows while the process runs agrees with the lake's own count.
    assert lake.stats() == {
        "rows_written": stats["rows_written"],
        "duplicates_dropped": stats["duplicates_dropped"],
    }


@pytest.mark.slow
def test_a_killed_lake_process_is_reported_not_waited_for(tmp_path: Path, caplog) -> None:
    import os
    import signal

    lake = LakeProcess(tmp_path / "lake")
    lake.start()
    assert lake.pid is not None
    os.kill(lake.pid, signal.SIGKILL)
    lake._proc.join(10)
    with pytest.raises(LakeProcessGone, match="exited with -9; 1 deliveries not written"):
        lake.send([b"anything"])
    with caplog.at_level("ERROR"):
        lake.close(timeout_s=10)
    assert lake.written == 0
    assert "event=lake_process_failed exitcode=-9" in caplog.text


@pytest.mark.slow
def test_ctrl_c_in_the_terminal_does_not_stop_the_lake_process(tmp_path: Path) -> None:
    """SIGINT reaches the whole process group; the runner drains through the lake process
    afterwards, so the lake process keeps taking deliveries until told it is done."""
    import os
    import signal

    synth = ReadingSynth("load-00001", 1)
    lake = LakeProcess(tmp_path / "lake")
    lake.start()
    assert lake.pid is not None
    lake.send([synth.batch(1, START_MS, "site-load")])
    os.kill(lake.pid, signal.SIGINT)
    os.kill(lake.pid, signal.SIGTERM)
    lake.send([synth.batch(2, START_MS + 1000, "site-load")])
    lake.close(timeout_s=30)
    assert lake.written == 2
    assert lake.stats()["rows_written"] == 2 * len(STREAM_NAMES)
