"""The sensors configuration's nested entries: `chips` and `gpioInputs` parse into frozen typed
entries, each driver's options checked when the configuration arrives, not at first use."""

import dataclasses

import pytest

from components.core.clock import ManualClock
from components.core.config import ConfigError, ConfigHolder
from components.lib.drivers.ads1115 import Ads1115Options, Loop
from components.lib.drivers.adxl345 import Adxl345Options
from components.lib.drivers.bme280 import Bme280Options
from components.lib.drivers.ina219 import Ina219Options
from components.lib.drivers.registry import Chip
from components.lib.drivers.sht3x import Sht3xOptions
from components.sensors.config import SPEC, GpioInput
from components.sensors.service import SensorService
from edge_sim.fleet_site import CHIPS
from edge_sim.hardware.bus import SimBus


def _chips_error(entries):
    with pytest.raises(ConfigError) as err:
        SPEC.parse({"chips": entries})
    return err.value.errors["chips"]


def test_chips_parse_into_frozen_typed_entries_with_the_options_filled_in():
    cfg = SPEC.parse(
        {
            "chips": [
                {
                    "driver": "bme280",
                    "address": "0x77",
                    "mode": "normal",
                    "iirFilter": 4,
                    "oversampling": [2, 16, 1],
                },
                {"driver": "adxl345", "address": 0x53, "sampleIntervalSeconds": 0.5},
                {"driver": "ads1115", "address": "72", "high": 4, "unit": "m"},
            ]
        }
    )
    bme, adxl, ads = cfg.chips
    assert bme == Chip("bme280", 0x77, None, Bme280Options((2, 16, 1), "normal", 4, 62.5))
    assert adxl == Chip("adxl345", 0x53, 0.5, Adxl345Options(400.0, 16, 0.5))
    assert ads == Chip("ads1115", 0x48, None, Ads1115Options(0, 4.096, 128, Loop(150.0, 0, 4, "m")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        bme.address = 0x76
    with pytest.raises(dataclasses.FrozenInstanceError):
        bme.options.mode = "forced"


def test_the_default_chip_is_a_bme280_with_its_default_options():
    (chip,) = SPEC.parse(None).chips
    assert chip == Chip("bme280", 0x76, None, Bme280Options((1, 1, 1), "forced", 0, 62.5))


def test_a_chip_without_its_own_interval_is_sampled_at_the_component_default():
    cfg = SPEC.parse(
        {
            "sampleIntervalSeconds": 2.0,
            "chips": [
                {"driver": "sht3x", "address": "0x44"},
                {"driver": "ina219", "address": "0x40", "sampleIntervalSeconds": 0.25},
            ],
        }
    )
    assert [c.sample_interval_s for c in cfg.chips] == [None, 0.25]
    assert [c.interval_s(2.0) for c in cfg.chips] == [2.0, 0.25]
    svc = SensorService(cfg, store=None, bus=SimBus(), clock=ManualClock(), sleep=lambda s: None)
    assert svc.interval_ns == [2_000_000_000, 250_000_000]


def test_numbers_written_as_text_are_read_as_numbers():
    # nucleus lite gives every value of a YAML recipe back as text
    (chip,) = SPEC.parse(
        {
            "chips": [
                {"driver": "ina219", "address": "0x40", "shuntOhm": "0.05", "batteryCells": "3"}
            ]
        }
    ).chips
    assert chip.options == Ina219Options(0.05, 2.0, 3)


def test_the_simulated_fleet_site_chips_parse():
    chips = SPEC.parse({"chips": CHIPS}).chips
    assert [(c.driver, c.address) for c in chips] == [
        ("bme280", 0x76),
        ("sht3x", 0x44),
        ("ina219", 0x40),
        ("ads1115", 0x48),
        ("adxl345", 0x53),
    ]
    assert all(isinstance(c, Chip) for c in chips)


@pytest.mark.parametrize(
    "entry, reason",
    [
        ({"driver": "bme280", "oversampling": [3, 1, 1]}, "oversampling 3 is not one of"),
        ({"driver": "bme280", "oversampling": [1, 1]}, "oversampling needs 3 factors"),
        ({"driver": "bme280", "oversampling": 1}, "oversampling needs 3 factors"),
        ({"driver": "bme280", "mode": "turbo"}, "mode 'turbo' is not 'forced' or 'normal'"),
        ({"driver": "bme280", "iirFilter": 3}, "iirFilter 3 is not one of [0, 2, 4, 8, 16]"),
        ({"driver": "bme280", "standbyMs": 7}, "standbyMs 7.0 is not one of"),
        ({"driver": "sht3x", "repeatability": "always"}, "repeatability 'always' not in"),
        ({"driver": "adxl345", "rateHz": 300}, "300.0 Hz is not an ADXL345 data rate"),
        ({"driver": "adxl345", "rateHz": 0}, "0.0 Hz is not an ADXL345 data rate"),
        ({"driver": "adxl345", "rangeG": 3}, "range 3 g not in [2, 4, 8, 16]"),
        ({"driver": "adxl345", "windowSeconds": 0}, "windowSeconds must be > 0"),
        ({"driver": "ina219", "shuntOhm": "thick"}, "shuntOhm 'thick' is not a number"),
        ({"driver": "ina219", "shuntOhm": 0}, "shuntOhm must be > 0"),
        ({"driver": "ina219", "maxExpectedAmps": True}, "maxExpectedAmps True is not a number"),
        ({"driver": "ina219", "batteryCells": 1.5}, "batteryCells 1.5 is not an integer"),
        ({"driver": "ina219", "batteryCells": -1}, "batteryCells must be >= 0"),
        ({"driver": "ads1115", "fullScaleVolts": 5.0}, "bad ADS1115 setting"),
        ({"driver": "ads1115", "channel": 4}, "bad ADS1115 setting channel=4"),
        ({"driver": "ads1115", "shuntOhm": 0}, "shuntOhm must be > 0"),
    ],
)
def test_each_drivers_options_are_checked_at_parse_time_naming_the_entry(entry, reason):
    entries = [{"driver": "sht3x", "address": "0x45"}, {"address": "0x50", **entry}]
    error = _chips_error(entries)
    assert error.startswith(f"entry 1 ({entry['driver']}): ")
    assert reason in error


@pytest.mark.parametrize(
    "entries, error",
    [
        (
            [{"driver": "lm75", "address": "0x48"}],
            "entry 0: needs 'driver' out of ['bme280', 'sht3x', 'adxl345', 'ina219', 'ads1115']",
        ),
        (["bme280"], "entry 0: needs 'driver' out of"),
        ([{"driver": "sht3x", "address": "zz"}], "entry 0: address 'zz' is no number"),
        ([{"driver": "sht3x"}], "entry 0: address None is no number"),
        ([{"driver": "sht3x", "address": "0x99"}], "entry 0: address 0x99 outside 0x03..0x77"),
        (
            [{"driver": "sht3x", "address": "0x44"}, {"driver": "bme280", "address": 68}],
            "entry 1: address 0x44 configured twice",
        ),
        (
            [{"driver": "sht3x", "address": "0x44", "sampleIntervalSeconds": 0.01}],
            "entry 0: sampleIntervalSeconds must be a number >= 0.05",
        ),
        (
            [{"driver": "sht3x", "address": "0x44", "sampleIntervalSeconds": "1"}],
            "entry 0: sampleIntervalSeconds must be a number >= 0.05",
        ),
    ],
)
def test_bad_chip_entries_keep_their_errors(entries, error):
    assert _chips_error(entries).startswith(error)


def test_gpio_inputs_parse_into_frozen_typed_entries():
    cfg = SPEC.parse(
        {
            "gpioInputs": [
                {"kind": "pulse", "pin": "GPIO17", "name": "flow1", "sampleIntervalSeconds": 2},
                {"kind": "contact", "pin": "GPIO27", "name": "door"},
            ]
        }
    )
    pulse, contact = cfg.gpioInputs
    assert pulse == GpioInput("pulse", "GPIO17", "flow1", 2.0)
    assert contact == GpioInput("contact", "GPIO27", "door", None)
    assert (pulse.stream, contact.stream) == ("pulse/flow1@GPIO17", "contact/door@GPIO27")
    assert (pulse.interval_s(5.0), contact.interval_s(5.0)) == (2.0, 5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pulse.pin = "GPIO4"
    assert SPEC.parse(None).gpioInputs == ()


@pytest.mark.parametrize(
    "entries, error",
    [
        (
            [{"kind": "relay", "pin": "GPIO17", "name": "x"}],
            "entry 0: needs 'kind' out of ['pulse', 'contact', 'button']",
        ),
        (
            [{"kind": "pulse", "pin": "GPIO 17", "name": "x"}],
            "entry 0: 'pin' must be a name like GPIO17 / flow1",
        ),
        ([{"kind": "pulse", "pin": "GPIO17"}], "entry 0: 'name' must be a name like GPIO17"),
        (
            [
                {"kind": "pulse", "pin": "GPIO17", "name": "a"},
                {"kind": "button", "pin": "GPIO17", "name": "b"},
            ],
            "entry 1: pin GPIO17 configured twice",
        ),
        (
            [{"kind": "pulse", "pin": "GPIO17", "name": "a", "sampleIntervalSeconds": True}],
            "entry 0: sampleIntervalSeconds must be a number >= 0.05",
        ),
    ],
)
def test_bad_gpio_entries_keep_their_errors(entries, error):
    with pytest.raises(ConfigError) as err:
        SPEC.parse({"gpioInputs": entries})
    assert err.value.errors["gpioInputs"].startswith(error)


def test_a_rejected_update_keeps_the_chips_and_the_json_in_force():
    holder = ConfigHolder(SPEC, {"chips": [{"driver": "sht3x", "address": "0x44"}]})
    rejected = holder.update({"chips": [{"driver": "sht3x", "address": "0x44", "mode": 1}, 5]})
    assert rejected is not None and "chips" in rejected.errors
    assert holder.current.chips == (Chip("sht3x", 0x44, None, Sht3xOptions("high")),)
    assert holder.raw["chips"] == [{"driver": "sht3x", "address": "0x44"}]


def test_a_chip_refuses_options_of_another_driver():
    with pytest.raises(TypeError, match="not sht3x options"):
        Chip("sht3x", 0x44, None, Bme280Options((1, 1, 1), "forced", 0, 62.5))
    with pytest.raises(ValueError, match="no driver named 'lm75'"):
        Chip("lm75", 0x48, None, Sht3xOptions("high"))
