"""The registry builds each driver from a parsed Chip: the options a `chips` entry leaves out
take the registry's defaults (what the Console's scan reads a found chip with)."""

import pytest

from components.lib.drivers.ads1115 import Ads1115, Loop
from components.lib.drivers.adxl345 import Adxl345
from components.lib.drivers.bme280 import Bme280
from components.lib.drivers.ina219 import Ina219
from components.lib.drivers.registry import DRIVERS, Chip, make_driver, parse_options
from components.lib.drivers.sht3x import Sht3x
from edge_sim.hardware.bus import SimBus


def test_default_chips_build_drivers_with_the_recipe_defaults():
    bus = SimBus()
    bme = make_driver(Chip.default("bme280", 0x77), bus)
    assert isinstance(bme, Bme280) and bme.address == 0x77
    assert (bme.os_t, bme.os_p, bme.os_h, bme.mode) == (1, 1, 1, "forced")
    sht = make_driver(Chip.default("sht3x", 0x44), bus)
    assert isinstance(sht, Sht3x) and sht.repeatability == "high"
    adxl = make_driver(Chip.default("adxl345", 0x53), bus)
    # the configuration's window (0.5 s), not the driver's own default
    assert isinstance(adxl, Adxl345) and (adxl.rate_hz, adxl.range_g, adxl.window_s) == (
        400.0,
        16,
        0.5,
    )
    ina = make_driver(Chip.default("ina219", 0x40), bus)
    assert isinstance(ina, Ina219) and (ina.shunt_ohm, ina.battery_cells) == (0.1, 0)
    ads = make_driver(Chip.default("ads1115", 0x48), bus)
    assert isinstance(ads, Ads1115)
    assert (ads.channel, ads.fsr_v, ads.rate_sps, ads.loop) == (0, 4.096, 128, Loop())


def test_options_reach_the_driver():
    options = parse_options("bme280", {"oversampling": [2, 16, 1], "mode": "normal"})
    bme = make_driver(Chip("bme280", 0x76, None, options), SimBus())
    assert isinstance(bme, Bme280)
    assert (bme.os_t, bme.os_p, bme.os_h, bme.mode) == (2, 16, 1, "normal")


def test_every_driver_has_options_and_an_unknown_one_is_refused():
    assert {type(parse_options(d, {})).__name__ for d in DRIVERS} == {
        "Bme280Options",
        "Sht3xOptions",
        "Adxl345Options",
        "Ina219Options",
        "Ads1115Options",
    }
    with pytest.raises(ValueError, match="no driver named 'lm75'"):
        parse_options("lm75", {})
