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
