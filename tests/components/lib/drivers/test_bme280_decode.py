"""BME280 compensation against the datasheet example and vectors from the Bosch reference code."""

import pytest

from components.lib.drivers import bme280

CAL_A_TP = bytes.fromhex("706b4367 18fc7d8e43d6d00b270b8c00f9ff8c3cf8c670 17004b".replace(" ", ""))
CAL_A_H = bytes.fromhex("6a010013290 31e".replace(" ", ""))


@pytest.fixture
def cal_a() -> bme280.Calibration:
    return bme280.parse_calibration(CAL_A_TP, CAL_A_TP[25], CAL_A_H)


def test_calibration_set_a_parses_to_datasheet_values(cal_a):
    assert (cal_a.t1, cal_a.t2, cal_a.t3) == (27504, 26435, -1000)
    assert (cal_a.p1, cal_a.p2, cal_a.p3, cal_a.p4, cal_a.p5) == (36477, -10685, 3024, 2855, 140)
    assert (cal_a.p6, cal_a.p7, cal_a.p8, cal_a.p9) == (-7, 15500, -14600, 6000)
    assert (cal_a.h1, cal_a.h2, cal_a.h3, cal_a.h4, cal_a.h5, cal_a.h6) == (75, 362, 0, 313, 50, 30)


def test_calibration_crc_register():
    assert bme280.calibration_crc(b"123456789") == 0x4B  # CRC-8/SAE-J1850 check value
    assert bme280.calibration_crc(CAL_A_TP + CAL_A_H) == 0xAF


def test_bmp280_datasheet_example(cal_a):
    t_fine, t_c = bme280.t_fine_and_celsius(cal_a, 519888)
    assert t_fine == 128422
    assert t_c == pytest.approx(25.08, abs=0.005)
    assert bme280.pressure_pa(cal_a, t_fine, 415148) == pytest.approx(100653.26, abs=0.01)


def test_datasheet_integer_form(cal_a):
    t, t_fine, p_q24_8, h_q22_10 = bme280.compensate_int(cal_a, 415148, 519888, 30000)
    assert (t, t_fine, p_q24_8, h_q22_10) == (2508, 128422, 25767233, 56317)
    # Negative temperature: the datasheet's floor shifts give -317 (Bosch's C division -316).
    t, t_fine, p_q24_8, h_q22_10 = bme280.compensate_int(cal_a, 415148, 430000, 26000)
    assert (t, t_fine, p_q24_8, h_q22_10) == (-317, -16244, 24663349, 33731)


@pytest.mark.parametrize(
    "raw_hex, t_c, p_pa, h_pct",
    [
        ("655ac07eed007530", 25.082478, 100653.258145, 55.000713),
        ("655ac068fb006590", -3.172617, 96341.241875, 32.94067),
    ],
)
def test_double_form_matches_bosch_api(cal_a, raw_hex, t_c, p_pa, h_pct):
    adc_p, adc_t, adc_h = bme280.split_raw(bytes.fromhex(raw_hex))
    out = bme280.compensate(cal_a, adc_p, adc_t, adc_h)
    assert out["temperature_c"] == pytest.approx(t_c, abs=1e-5)
    assert out["pressure_pa"] == pytest.approx(p_pa, abs=1e-4)
    assert out["humidity_pct"] == pytest.approx(h_pct, abs=1e-4)


def test_calibration_set_b():
    cal = bme280.Calibration(
        28417,
        26721,
        50,
        38042,
        -10559,
        3024,
        8726,
        -185,
        -7,
        9900,
        -10230,
        4285,
        75,
        360,
        0,
        325,
        50,
        30,
    )
    out = bme280.compensate(cal, 415148, 519888, 30000)
    assert out["temperature_c"] == pytest.approx(20.776266, abs=1e-5)
    assert out["pressure_pa"] == pytest.approx(80407.251556, abs=1e-4)
    assert out["humidity_pct"] == pytest.approx(50.33516, abs=1e-4)
    assert bme280.compensate_int(cal, 415148, 430000, 26000) == (-786, -40238, 19594601, 29505)


def test_negative_h4_h5_sign_extension():
    h = bytes([0x6A, 0x01, 0x00]) + bytes([0xFD, 0x28 | 0x08, 0xFE, 0x1E])
    cal = bme280.parse_calibration(CAL_A_TP, 75, h)
    assert cal.h4 == -40 and cal.h5 == -30
    # The double and the integer forms are independent derivations: they agree.
    h_double = bme280.compensate(cal, 415148, 519888, 6000)["humidity_pct"]
    assert h_double == pytest.approx(
        bme280.compensate_int(cal, 415148, 519888, 6000)[3] / 1024, abs=0.01
    )


def test_measurement_time_all_x1():
    assert bme280.measurement_time_ms(1, 1, 1) == pytest.approx(9.3)
    assert bme280.measurement_time_ms(1, 0, 0) == pytest.approx(3.55)


def test_chip_id_names():
    assert bme280.chip_name(0x60) == "bme280"
    assert bme280.chip_name(0x58) == "bmp280"
    assert bme280.chip_name(0x55) is None


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(
    st.binary(min_size=26, max_size=26),
    st.binary(min_size=7, max_size=7),
    st.binary(min_size=8, max_size=8),
)
def test_any_chip_bytes_decode_without_exceptions(tp, h, raw):
    """Calibration and data come from outside: garbage gives numbers (or None), never a crash."""
    import math

    cal = bme280.parse_calibration(tp, tp[25], h)
    out = bme280.compensate(cal, *bme280.split_raw(raw))
    assert math.isfinite(out["temperature_c"])
    assert out["pressure_pa"] is None or math.isfinite(out["pressure_pa"])
    assert 0.0 <= out["humidity_pct"] <= 100.0
