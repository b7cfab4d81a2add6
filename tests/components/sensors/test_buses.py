"""Bus selection: env var over configuration; buses by name from the registry (edge_sim's sim
bus from a scenario file); serial by URL."""

import json

import pytest
from gpiozero.pins.mock import MockFactory

from components.core import buses
from components.core.clock import ManualClock
from components.lib.drivers.sht3x import Sht3x
from edge_sim.hardware.bus import ENV_SIM_SCENARIO, SimBus


def test_choice_env_wins_over_configuration():
    assert buses.i2c_choice(1, {}) == 1
    assert buses.i2c_choice(None, {}) == 1
    assert buses.i2c_choice("0x3", {}) == 3
    assert buses.i2c_choice(1, {buses.ENV_I2C_BUS: "sim"}) == "sim"
    assert buses.i2c_choice("sim", {buses.ENV_I2C_BUS: "22"}) == 22


def test_unregistered_bus_name_fails_naming_the_installed_choices():
    assert "sim" in buses.registered_buses()  # edge_sim's entry point, from pyproject.toml
    with pytest.raises(buses.BusConfigError, match=r"'i2c-one'.*installed here: .*sim"):
        buses.open_i2c("i2c-one", env={})


def test_no_registered_bus_on_a_device(monkeypatch):
    # A device installs no edge_sim: the same name fails, saying nothing is installed.
    monkeypatch.setattr(buses, "entry_points", lambda group: [])
    with pytest.raises(buses.BusConfigError, match="installed here: none"):
        buses.open_i2c(1, env={buses.ENV_I2C_BUS: "sim"})


def test_real_bus_is_smbus2_and_fails_loudly_without_the_device():
    # No /dev/i2c-* on a build machine: smbus2 itself raises, nothing pretends to work.
    with pytest.raises(OSError):
        buses.open_i2c(7, env={})


def test_sim_bus_from_scenario_file(tmp_path):
    path = tmp_path / "hall.json"
    path.write_text(
        json.dumps(
            {
                "seed": 1,
                "chips": [
                    {
                        "chip": "sht3x",
                        "address": "0x45",
                        "signals": {
                            "temperature_c": {"base": 30.0},
                            "humidity_pct": {"base": 20.0},
                        },
                    }
                ],
            }
        )
    )
    clock = ManualClock()
    bus = buses.open_i2c(
        1, clock=clock, env={buses.ENV_I2C_BUS: "sim", ENV_SIM_SCENARIO: str(path)}
    )
    assert isinstance(bus, SimBus)
    d = Sht3x(bus, 0x45, sleep=clock.advance)
    d.init()
    assert d.read()["temperature_c"] == pytest.approx(30.0, abs=0.01)


def test_serial_by_url_loopback():
    port = buses.open_serial("loop://", 9600, timeout_s=0.1)
    port.write(b"\x02abc")
    assert port.read(4) == b"\x02abc"
    port.close()


def test_gpio_mock_factory():
    factory = buses.gpio_pin_factory("mock")
    assert isinstance(factory, MockFactory)
    factory.close()
    with pytest.raises(buses.BusConfigError):
        buses.gpio_pin_factory("no-such-factory")
