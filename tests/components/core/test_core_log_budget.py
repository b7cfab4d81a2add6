import os
import subprocess

import pytest

from components.core.clock import ManualClock
from components.core.log import BudgetExceeded, Log, NewRecord

BUDGET = 512 * 1024


@pytest.fixture
def small(tmp_path):
    lg = Log.open(
        tmp_path / "log.db",
        device="dev-001",
        budget_bytes=BUDGET,
        free_floor_bytes=0,
        clock=ManualClock(),
    )
    yield lg
    lg.close()


def _fill(lg, stream, cls, n, batch=100):
    for start in range(0, n, batch):
        lg.append_batch(
            stream, cls, [{"v": i, "pad": "x" * 40} for i in range(start, start + batch)]
        )


def test_raw_is_evicted_oldest_first_and_every_range_is_recorded(small):
    _fill(small, "env/a@1", "raw", 20_000)
    st = small.stats()
    assert st["used_bytes"] <= BUDGET
    ev = small.evictions()
    assert ev and all(e["cls"] == "raw" and e["reason"] == "budget" for e in ev)
    # The evicted ranges are exactly the oldest prefix, contiguous, ending where the log begins.
    first_kept = next(small.snapshot_records(["raw"])).seq
    covered = sorted((e["first_seq"], e["last_seq"]) for e in ev)
    assert covered[0][0] == 1
    for (_, hi), (lo, _) in zip(covered, covered[1:], strict=False):
        assert lo == hi + 1
    assert covered[-1][1] == first_kept - 1
    kept = st["classes"]["raw"]["records"]
    assert kept + sum(e["count"] for e in ev) == 20_000
    assert st["evicted"]["raw"]["budget"] == sum(e["count"] for e in ev)


def test_higher_classes_push_out_lower_ones_never_the_reverse(small):
    _fill(small, "alert/a@1", "alert", 1000)
    _fill(small, "agg/a@1", "aggregate", 1000)
    _fill(small, "env/a@1", "raw", 30_000)  # raw only evicts raw
    st = small.stats()
    assert st["classes"]["alert"]["records"] == 1000
    assert st["classes"]["aggregate"]["records"] == 1000
    assert "aggregate" not in st["evicted"] and "alert" not in st["evicted"]
    _fill(small, "alert/a@1", "alert", 6000)  # alerts evict raw, then aggregates
    st = small.stats()
    assert st["classes"]["raw"]["records"] == 0
    assert st["evicted"]["aggregate"]["budget"] > 0
    assert st["used_bytes"] <= BUDGET


def test_raw_under_a_log_full_of_alerts_never_pushes_an_alert_out(small):
    _fill(small, "alert/a@1", "alert", 6000)
    alerts = small.stats()["classes"]["alert"]["records"]
    refused = 0
    for i in range(3000):  # raw may use the slack and evict raw; otherwise it is refused
        try:
            small.append("env/a@1", "raw", {"v": i, "pad": "x" * 40})
        except BudgetExceeded:
            refused += 1
    st = small.stats()
    assert st["classes"]["alert"]["records"] == alerts
    evicted = st["evicted"].get("raw", {}).get("budget", 0)
    assert evicted + st["classes"]["raw"]["records"] + refused == 3000
    assert st["counters"].get("rejected_full.raw", 0) == refused
    assert st["used_bytes"] <= BUDGET


def test_a_record_with_nothing_it_may_evict_is_refused(small):
    _fill(small, "alert/a@1", "alert", 6000)
    big = {"v": 0, "pad": "x" * 60_000}  # more than the slack, and no raw to push out
    with pytest.raises(BudgetExceeded) as err:
        small.append("env/a@1", "raw", big)
    assert err.value.cls == "raw"
    assert small.stats()["counters"]["rejected_full.raw"] == 1


def test_a_class_can_ask_for_backpressure_instead_of_evicting_itself(small):
    _fill(small, "event/pos@1", "event", 6000)
    n = small.stats()["classes"]["event"]["records"]
    with pytest.raises(BudgetExceeded):
        for _ in range(2000):
            small.append_records(
                [NewRecord("event/pos@1", "event", {"v": 0, "pad": "x" * 40})],
                may_evict_own_class=False,
            )
    assert small.stats()["classes"]["event"]["records"] >= n


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MiB filesystem, so "disk full" is the kernel's answer, not a simulation."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True
        ).returncode
    ):
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_free_disk_floor_stops_growth_and_evicts_raw(small_disk):
    floor = 1 << 20
    lg = Log.open(
        small_disk / "log.db", device="dev-001", budget_bytes=8 << 20, free_floor_bytes=floor
    )
    for i in range(400):
        lg.append_batch("env/a@1", "raw", [{"v": j, "pad": "x" * 60} for j in range(100)])
        st = os.statvfs(small_disk)
        # Below the floor by at most what one WAL checkpoint interval may hold.
        reserve = lg._budget.wal_reserve
        assert st.f_bavail * st.f_frsize > floor - reserve, f"floor crossed at batch {i}"
    ev = lg.evictions()
    assert ev and {e["reason"] for e in ev} == {"disk_floor"}
    kept = lg.stats()["classes"]["raw"]["records"]
    assert kept + sum(e["count"] for e in ev) == 40_000
    lg.close()


@pytest.mark.slow
def test_a_full_disk_is_a_counted_refusal_not_a_crash(small_disk):
    lg = Log.open(small_disk / "log.db", device="dev-001", budget_bytes=8 << 20, free_floor_bytes=0)
    lg.append("alert/a@1", "alert", {"v": 0})
    with open(small_disk / "hog", "wb") as hog:  # another program fills the disk
        try:
            while True:
                hog.write(b"\0" * 65536)
                hog.flush()
        except OSError:
            pass
    refused = 0
    for i in range(200):
        try:
            lg.append_batch("alert/a@1", "alert", [{"v": i, "pad": "y" * 500}] * 20)
        except BudgetExceeded:
            refused += 1
    assert refused > 0
    assert lg._budget.rejected["alert"] == refused * 20
    (small_disk / "hog").unlink()
    lg.append("alert/a@1", "alert", {"v": "after"})  # the log still works once space returns
    # Every refusal is on disk too, also those counted while not even a counter could commit
    # (before: 6,620 refused, 100 persisted).
    assert lg.stats()["counters"]["rejected_full.alert"] == refused * 20
    lg.close()
