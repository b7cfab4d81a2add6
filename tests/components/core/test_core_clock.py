from waiting import wait_for

from components.core.clock import BUILD_EPOCH_MS, ManualClock, SyncAnchor, SyncDetector
from components.core.log import Log

S = "env/bme280@0x76"
YEAR_1970_MS = 5_000


def test_wall_clock_before_build_date_is_unsynced_and_a_step_syncs_it():
    clock = ManualClock(wall_ms=YEAR_1970_MS)
    det = SyncDetector(clock)
    assert det.check() == (False, None)
    clock.advance(10)
    assert det.check()[0] is False
    clock.set_wall(BUILD_EPOCH_MS + 86_400_000)
    synced, anchor = det.check()
    assert synced and anchor == SyncAnchor(clock.monotonic_ns(), clock.wall_ms())
    clock.advance(1)
    assert det.check() == (True, None)  # steady: no new anchor


def test_a_jump_while_synced_is_counted_and_re_anchors():
    clock = ManualClock()
    det = SyncDetector(clock)
    det.check()
    clock.set_wall(clock.wall_ms() + 3_600_000)
    synced, anchor = det.check()
    assert synced and anchor is not None and det.jumps == 1


def test_external_signal_overrides_plausibility():
    clock = ManualClock()
    det = SyncDetector(clock)
    assert det.check(external_synced=False)[0] is False
    assert det.check(external_synced=True)[0] is True


def test_records_written_before_sync_get_corrected_wall_time_without_rewriting(tmp_path):
    clock = ManualClock(wall_ms=YEAR_1970_MS, mono_ns=50_000_000_000)
    lg = Log.open(
        tmp_path / "log.db", device="dev-001", clock=clock, free_floor_bytes=0, boot_id="boot-a"
    )
    lg.append(S, "raw", {"v": 1})  # at mono 50 s, wall says 1970
    clock.advance(30)
    lg.append(S, "raw", {"v": 2})  # at mono 80 s
    clock.advance(5)
    true_now = 1_795_000_000_000
    clock.set_wall(true_now)  # NTP syncs at mono 85 s
    lg.append(S, "raw", {"v": 3})
    lg.register_consumer("c", classes=["raw"])
    r1, r2, r3 = lg.read("c")
    assert (r1.clock_synced, r2.clock_synced, r3.clock_synced) == (False, False, True)
    assert r1.wall_ms == YEAR_1970_MS  # what the device believed is kept
    assert r1.wall_corrected_ms == true_now - 35_000
    assert r2.wall_corrected_ms == true_now - 5_000
    assert r3.wall_corrected_ms is None and r3.wall_ms == true_now
    assert [r.seq for r in (r1, r2, r3)] == [1, 2, 3]  # order comes from sequence numbers
    lg.close()


def test_unsynced_records_of_an_earlier_boot_stay_uncorrected(tmp_path):
    clock = ManualClock(wall_ms=YEAR_1970_MS)
    path = tmp_path / "log.db"
    with Log.open(path, device="dev-001", clock=clock, free_floor_bytes=0, boot_id="b1") as lg:
        lg.append(S, "raw", {"v": 1})
    clock2 = ManualClock(wall_ms=YEAR_1970_MS, mono_ns=1)  # rebooted: monotonic restarted
    with Log.open(path, device="dev-001", clock=clock2, free_floor_bytes=0, boot_id="b2") as lg:
        clock2.advance(1)
        clock2.set_wall(1_795_000_000_000)
        lg.append(S, "raw", {"v": 2})
        lg.register_consumer("c", classes=["raw"])
        first, second = lg.read("c")
    # Boot b1's monotonic clock means nothing in boot b2: no invented correction.
    assert first.clock_synced is False and first.wall_corrected_ms is None
    assert second.clock_synced is True


def test_simulated_unsynced_host_clock_steps_to_true_time_at_the_given_moment():
    import time

    from components.core.clock import UNSYNCED_UNTIL_ENV, SystemClock, host_clock

    assert isinstance(host_clock({}), SystemClock)
    clock = host_clock({UNSYNCED_UNTIL_ENV: str(time.monotonic_ns() + 200_000_000)})
    det = SyncDetector(clock)
    assert det.check()[0] is False and clock.wall_ms() < BUILD_EPOCH_MS
    synced, anchor = wait_for(
        lambda: (check := det.check())[0] and check,
        what="the clock to count as synced once its 200 ms pass",
    )
    assert synced and anchor is not None
    assert abs(clock.wall_ms() - time.time() * 1000) < 1000
