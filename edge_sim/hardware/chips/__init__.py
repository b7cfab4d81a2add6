"""Chip models. Each answers one I2C write message (`i2c_write`) and one read (`i2c_read`)."""

from edge_sim.hardware.chips.ads1115 import Ads1115Model
from edge_sim.hardware.chips.adxl345 import Adxl345Model
from edge_sim.hardware.chips.base import I2CChip
from edge_sim.hardware.chips.bme280 import Bme280Model
from edge_sim.hardware.chips.ina219 import Ina219Model
from edge_sim.hardware.chips.sht3x import Sht3xModel

MODELS: dict[str, type[I2CChip]] = {
    "bme280": Bme280Model,
    "bmp280": Bme280Model,
    "sht3x": Sht3xModel,
    "adxl345": Adxl345Model,
    "ina219": Ina219Model,
    "ads1115": Ads1115Model,
}

__all__ = [
    "MODELS",
    "I2CChip",
    "Bme280Model",
    "Sht3xModel",
    "Adxl345Model",
    "Ina219Model",
    "Ads1115Model",
]
