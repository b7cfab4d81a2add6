"""The fleet benchmark's real-time verdict on hand-made snapshots (no fleet, no timing)."""

from __future__ import annotations

import pytest

from bench.fleet import _judge


def _snap(t: float, counts: dict[str, int], backlog: int) -> dict:
    return {"t": t, "streams": counts, "produced": sum(counts.values()), "backlog": backlog}


def test_baseline_step_compares_devices_with_the_fleet_mean():
    # 1 s interval chip at 0.93 of nominal on both devices: the sampler's own drift.
    before = {d: _snap(0, {"env/bme280@0x76": 0}, 10) for d in ("a", "b")}
    after = {d: _snap(100, {"env/bme280@0x76": 93}, 10) for d in ("a", "b")}
    v = _judge(before, after, None)
    assert v["rate_vs_nominal"]["bme280@0x76"] == pytest.approx(0.93)
    assert v["min_rate_ratio"] == pytest.approx(1.0)
    assert v["backlog_growth_s"] == 0


def test_a_starved_device_falls_below_the_baseline_and_a_growing_backlog_shows():
    baseline = {"bme280@0x76": 0.93, "adxl345@0x53": 0.9}
    before = {"a": _snap(0, {"env/bme280@0x76": 0, "vib/adxl345@0x53": 0}, 0)}
    # ADXL345 at 0.5 s: 180 of 200 nominal (0.9, at baseline); BME280 80 of 100 (0.8).
    after = {"a": _snap(100, {"env/bme280@0x76": 80, "vib/adxl345@0x53": 180}, 26)}
    v = _judge(before, after, baseline)
    assert v["min_rate_ratio"] == pytest.approx(0.8 / 0.93)
    assert v["slowest_stream"] == "a env/bme280@0x76"
    assert v["backlog_growth_s"] == pytest.approx(26 / 2.6)  # 260 records in 100 s


def test_rates_come_from_the_readings_timestamps_not_the_snapshot_window():
    # A 1 s chip read exactly on time; the snapshots fall 0.9 s apart from its phase, so the
    # window (15.0 s) holds 14 readings: counting says 0.933, the timestamps say 1.0.
    before = {"a": _snap(0.0, {"env/bme280@0x76": 100}, 0)}
    before["a"]["heads"] = {"env/bme280@0x76": (100, 50_000_000_000)}
    after = {"a": _snap(15.0, {"env/bme280@0x76": 114}, 0)}
    after["a"]["heads"] = {"env/bme280@0x76": (114, 64_000_000_000)}
    v = _judge(before, after, {"bme280@0x76": 1.0})
    assert v["rate_vs_nominal"]["bme280@0x76"] == pytest.approx(1.0)
    # A chip that really slowed down: 14 readings over 20 s of its own time.
    after["a"]["heads"] = {"env/bme280@0x76": (114, 70_000_000_000)}
    assert _judge(before, after, {"bme280@0x76": 1.0})["min_rate_ratio"] == pytest.approx(0.7)
