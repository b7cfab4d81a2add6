"""Windows against independent oracles: the statistics module for the scalar summary, a
direct DFT for the FFT, and sine waves of known amplitude and frequency for vibration."""

import cmath
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.analytics.windows import (
    TumblingWindow,
    VibrationWindow,
    dominant_frequency_hz,
    fft,
    percentile,
    vibration_axis,
)

T0 = 1_767_225_600_000  # a multiple of 60 s


def test_window_closes_when_a_reading_falls_past_its_end():
    w = TumblingWindow(10)
    vals = [float(v) for v in (3, 1, 4, 1, 5, 9, 2, 6, 5, 3)]
    for i, v in enumerate(vals):
        assert w.add(T0 + i * 1000, {"t_c": v}, seq=i + 1) is None
    out = w.add(T0 + 10_000, {"t_c": 7.0}, seq=11)
    assert out["window_start_ms"] == T0 and out["window_end_ms"] == T0 + 10_000
    assert (out["first_seq"], out["last_seq"]) == (1, 10)
    f = out["fields"]["t_c"]
    assert f["count"] == 10 and f["min"] == 1 and f["max"] == 9 and f["last"] == 3
    assert f["mean"] == pytest.approx(statistics.fmean(vals))
    assert f["std"] == pytest.approx(statistics.stdev(vals))
    q = statistics.quantiles(vals, n=20, method="inclusive")
    assert f["p50"] == pytest.approx(statistics.median(vals)) and f["p95"] == pytest.approx(q[18])
    assert f["percentiles_exact"] is True


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=300))
def test_summary_matches_the_statistics_module(vals):
    w = TumblingWindow(1000)
    for i, v in enumerate(vals):
        w.add(T0 + i, {"v": v})
    f = w.close()["fields"]["v"]
    assert f["mean"] == pytest.approx(statistics.fmean(vals), rel=1e-9, abs=1e-6)
    assert f["std"] == pytest.approx(statistics.stdev(vals), rel=1e-6, abs=1e-6)
    q = statistics.quantiles(vals, n=20, method="inclusive")
    assert f["p95"] == pytest.approx(q[18], rel=1e-9, abs=1e-9)


def test_percentiles_bounded_beyond_the_exact_limit():
    w = TumblingWindow(1000, exact_limit=256)
    n = 10_000
    for i in range(n):
        w.add(T0 + i, {"v": float(i)})
    assert len(w.fields["v"].kept) < 256
    f = w.close()["fields"]["v"]
    assert f["percentiles_exact"] is False and f["count"] == n and f["max"] == n - 1
    stride = 64  # 10_000 values into < 256 kept slots
    assert abs(f["p50"] - (n - 1) / 2) <= stride and abs(f["p95"] - 0.95 * (n - 1)) <= stride


def test_late_reading_is_counted_and_kept():
    w = TumblingWindow(10)
    w.add(T0 + 15_000, {"v": 1.0})
    w.add(T0 + 2_000, {"v": 2.0})  # the clock stepped back
    out = w.close_due(T0 + 20_000)
    assert out["late"] == 1 and out["fields"]["v"]["count"] == 2


def test_percentile_definition():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    with pytest.raises(ValueError):
        percentile([], 0.5)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.complex_numbers(max_magnitude=1e3, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=64,
    ).filter(lambda v: len(v) & (len(v) - 1) == 0)
)
def test_fft_matches_a_direct_dft(x):
    n = len(x)
    dft = [sum(x[t] * cmath.exp(-2j * math.pi * k * t / n) for t in range(n)) for k in range(n)]
    for a, b in zip(fft(x), dft, strict=True):
        assert abs(a - b) <= 1e-6 * (1 + abs(b))


def test_fft_rejects_other_lengths():
    with pytest.raises(ValueError):
        fft([1, 2, 3])


def test_vibration_axis_of_a_sine():
    rate, f0, amp = 400.0, 50.0, 0.5
    x = [1.0 + amp * math.sin(2 * math.pi * f0 * i / rate) for i in range(4000)]
    a = vibration_axis(x, rate)
    assert a["mean_g"] == pytest.approx(1.0, abs=1e-3)  # gravity removed from the AC part
    assert a["rms_g"] == pytest.approx(amp / math.sqrt(2), rel=1e-3)
    assert a["peak_g"] == pytest.approx(amp, rel=1e-3)
    assert a["crest_factor"] == pytest.approx(math.sqrt(2), rel=1e-3)
    assert a["dominant_hz"] == pytest.approx(f0, abs=rate / 4096)
    assert dominant_frequency_hz([2.0] * 16, rate) == 0.0


def test_vibration_window_from_fifo_bursts_and_single_samples():
    rate = 400.0
    w = VibrationWindow(1.0, sample_rate_hz=rate)
    samples = [
        [
            0.3 * math.sin(2 * math.pi * 25 * i / rate),
            0.0,
            1.0 + 0.1 * math.sin(2 * math.pi * 80 * i / rate),
        ]
        for i in range(400)
    ]
    for k in range(0, 400, 16):
        assert w.add(T0 + int(k / rate * 1000), {"samples": samples[k : k + 16]}) is None
    out = w.add(T0 + 1000, {"accel_x_g": 0.0, "accel_y_g": 0.0, "accel_z_g": 1.0})
    assert out["samples"] == 400 and out["sample_rate_hz"] == rate
    assert out["axes"]["x"]["dominant_hz"] == pytest.approx(25, abs=rate / 512)
    assert out["axes"]["z"]["dominant_hz"] == pytest.approx(80, abs=rate / 512)
    assert out["axes"]["y"]["rms_g"] == 0.0 and out["axes"]["y"]["crest_factor"] == 0.0
    assert w.close()["samples"] == 1


def test_vibration_rate_estimated_from_timestamps_when_not_configured():
    w = VibrationWindow(1.0)
    for i in range(101):
        w.add(T0 + i * 5, {"accel_x_g": math.sin(i), "accel_y_g": 0.0, "accel_z_g": 1.0})
    assert w.close()["sample_rate_hz"] == pytest.approx(200.0)
