"""SHT3x, ADXL345, INA219 and ADS1115 decoding from bytes, against datasheet worked examples."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.lib.drivers import ads1115, adxl345, ina219, sht3x
from components.lib.drivers.base import ChecksumError, to_signed16


def test_sht3x_crc_datasheet_vectors():
    assert sht3x.crc8(b"\xbe\xef") == 0x92
    assert sht3x.crc8(b"\x00\x00") == 0x81
    assert sht3x.crc8(b"\xff\xff") == 0xAC
    assert sht3x.crc8(b"123456789") == 0xF7


def test_sht3x_worked_example():
    out = sht3x.decode_measurement(bytes.fromhex("643456733301"))
    assert out["temperature_c"] == pytest.approx(23.4993, abs=1e-4)
    assert out["humidity_pct"] == pytest.approx(45.0004, abs=1e-4)


def test_sht3x_bad_crc_is_named_error_with_evidence():
    with pytest.raises(ChecksumError) as err:
        sht3x.decode_measurement(bytes.fromhex("643457733301"))
    assert err.value.evidence == bytes.fromhex("643457733301")


@given(st.binary(min_size=6, max_size=6))
def test_sht3x_any_six_bytes_decode_or_checksum_error(data):
    try:
        out = sht3x.decode_measurement(data)
    except ChecksumError:
        return
    assert -45 <= out["temperature_c"] <= 130 and 0 <= out["humidity_pct"] <= 100


def test_adxl345_rates_and_scale():
    assert adxl345.rate_code(100) == 0x0A
    assert adxl345.rate_code(3200) == 0x0F
    assert adxl345.rate_code(400) == 0x0C
    with pytest.raises(ValueError):
        adxl345.rate_code(300)
    assert adxl345.g_per_lsb(2, False) == pytest.approx(1 / 256)
    assert adxl345.g_per_lsb(16, False) == pytest.approx(1 / 32)
    x, y, z = adxl345.decode_sample(bytes([0x00, 0x01, 0x00, 0xFF, 0x80, 0x00]), 0.0039)
    assert (x, y, z) == pytest.approx((256 * 0.0039, -256 * 0.0039, 128 * 0.0039))


def test_adxl345_summary_removes_gravity():
    samples = [(0.5 * (-1) ** i, 0.0, 1.0) for i in range(100)]
    s = adxl345.VibrationSummary.of(samples)
    assert s.rms_x_g == pytest.approx(0.5) and s.rms_z_g == pytest.approx(0.0)
    assert s.peak_g == pytest.approx(0.5)


def test_ina219_worked_example():
    # R = 0.1 Ω, I = 0.5 A, V = 12 V with the 32 V / 2 A calibration (LSB 0.1 mA).
    assert ina219.calibration_value(0.0001, 0.1) == 4096
    assert ina219.decode_shunt_v(0x1388) == pytest.approx(0.050)
    volts, ready, overflow = ina219.decode_bus(0x5DC2)
    assert volts == pytest.approx(12.0) and ready and not overflow
    assert ina219.decode_current_a(5000, 0.0001) == pytest.approx(0.5)
    assert ina219.decode_power_w(3000, 0.0001) == pytest.approx(6.0)
    assert ina219.decode_current_a(0xFFFF, 0.0001) == pytest.approx(-0.0001)


def test_ina219_current_lsb_choice():
    assert ina219.current_lsb_for(2.0) == pytest.approx(1e-4)
    assert ina219.current_lsb_for(3.2) == pytest.approx(1e-4)
    assert ina219.current_lsb_for(10.0) == pytest.approx(5e-4)


def test_ads1115_worked_example():
    assert ads1115.config_word(0, 4.096, 128) == 0xC383
    volts = ads1115.counts_to_volts(0x3840, 4.096)
    assert volts == pytest.approx(1.800)
    loop = ads1115.Loop(shunt_ohm=150, low=0, high=10)
    assert loop.current_ma(volts) == pytest.approx(12.0)
    assert loop.value(12.0) == pytest.approx(5.0)
    assert to_signed16(0xDA80) == -9600


@pytest.mark.parametrize("ma", [0.0, 3.5, 21.5])
def test_ads1115_namur_faults(ma):
    with pytest.raises(ads1115.LoopFault) as err:
        ads1115.Loop().value(ma)
    assert err.value.evidence == ma


def _dft_lines(values, rate):
    """The textbook DFT, line by line: (frequency, amplitude) of every line above DC."""
    import math

    n = len(values)
    mean = sum(values) / n
    c = [v - mean for v in values]
    out = []
    for k in range(1, n // 2 + 1):
        re = sum(v * math.cos(2 * math.pi * k * i / n) for i, v in enumerate(c))
        im = sum(v * math.sin(2 * math.pi * k * i / n) for i, v in enumerate(c))
        out.append((k * rate / n, 2 * math.hypot(re, im) / n))
    return out


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-16, 16, allow_nan=False), min_size=4, max_size=140),
    rate=st.sampled_from([100.0, 400.0, 800.0]),
)
def test_dominant_frequency_is_the_strongest_line_of_the_textbook_dft(values, rate):
    lines = _dft_lines(values, rate)
    top = max(a for _f, a in lines)
    f, a = adxl345.dominant_frequency(values, rate)
    if top < 1e-9:  # a constant window has no line to find
        assert a == pytest.approx(0.0, abs=1e-6)
        return
    assert a == pytest.approx(top, rel=1e-6, abs=1e-9)
    # The line found is one of those as strong as the strongest (ties: any of them).
    assert any(lf == f and la >= top * (1 - 1e-6) for lf, la in lines)


def test_dominant_frequency_finds_running_speed_and_a_stronger_harmonic():
    # Frequencies on the 2 Hz bins of 200 samples at 400 Hz.
    import math

    rate, n = 400.0, 200
    run = [0.3 * math.sin(2 * math.pi * 26 * i / rate) for i in range(n)]
    f, a = adxl345.dominant_frequency(run, rate)
    assert f == pytest.approx(26.0) and a == pytest.approx(0.3, rel=0.01)
    faulty = [v + 0.5 * math.sin(2 * math.pi * 78 * i / rate) for i, v in enumerate(run)]
    assert adxl345.dominant_frequency(faulty, rate)[0] == pytest.approx(78.0)
