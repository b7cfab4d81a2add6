"""An INA219 on a battery-powered node reports the pack's estimated charge with each reading,
against the emulated chip at the register level (edge_sim's bus)."""

import pytest

from components.core import battery
from components.lib.drivers.ina219 import Ina219
from components.lib.drivers.registry import Chip, make_driver, parse_options
from edge_sim.hardware.bus import build_bus
from edge_sim.world import scenario


@pytest.mark.parametrize("pct", [12.0, 50.0, 93.0])
def test_battery_pct_follows_the_bus_voltage_of_the_pack(clock, pct):
    specs = scenario.load(
        {
            "chips": [
                {
                    "chip": "ina219",
                    "address": "0x40",
                    "signals": {
                        "current_a": {"base": 0.2},
                        "bus_voltage_v": {"base": battery.volts(pct, 3)},
                    },
                }
            ]
        }
    )
    bus = build_bus(specs, clock)
    chip = Chip("ina219", 0x40, None, parse_options("ina219", {"batteryCells": 3}))
    drv = make_driver(chip, bus, sleep=clock.advance)
    drv.init()
    # The bus register has a 4 mV step: the estimate is within a fraction of a percent.
    assert drv.read()["battery_pct"] == pytest.approx(pct, abs=1.0)
    plain = make_driver(Chip.default("ina219", 0x40), bus, sleep=clock.advance)
    plain.init()
    assert "battery_pct" not in plain.read()


def test_a_negative_cell_count_is_refused():
    with pytest.raises(ValueError, match="batteryCells"):
        parse_options("ina219", {"batteryCells": -1})
    with pytest.raises(ValueError, match="batteryCells"):
        Ina219(None, 0x40, battery_cells=-1)
