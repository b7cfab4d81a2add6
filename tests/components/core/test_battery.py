"""The lithium-ion curve both the simulated battery and the dashboard's estimate use."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.core import battery


def test_known_points_of_the_curve():
    assert battery.volts(100, 1) == pytest.approx(4.20)
    assert battery.volts(0, 3) == pytest.approx(9.00)
    assert battery.volts(50, 3) == pytest.approx(11.52)
    assert battery.charge_pct(12.6, 3) == 100.0 and battery.charge_pct(8.0, 3) == 0.0


@given(st.floats(0, 100), st.integers(1, 6))
def test_charge_and_voltage_are_inverse(pct, cells):
    assert battery.charge_pct(battery.volts(pct, cells), cells) == pytest.approx(pct, abs=1e-6)


@given(st.floats(0, 99), st.floats(0.01, 1))
def test_more_charge_is_more_voltage(pct, more):
    assert battery.volts(pct + more) > battery.volts(pct)
