"""Independent oracles: third-party drivers read our emulated chips and agree with the world
values and with our own drivers. The chips run on the system clock because these drivers sleep
with time.sleep between starting a conversion and reading it."""

import time

import pytest

from components.core.clock import SystemClock
from components.lib.drivers.ads1115 import Ads1115, Loop
from components.lib.drivers.adxl345 import Adxl345
from components.lib.drivers.bme280 import Bme280
from components.lib.drivers.ina219 import Ina219
from components.lib.drivers.sht3x import Sht3x
from edge_sim.hardware.adapters import BusioI2C
from edge_sim.hardware.bus import SimBus
from edge_sim.hardware.chips import (
    Ads1115Model,
    Adxl345Model,
    Bme280Model,
    Ina219Model,
    Sht3xModel,
)
from edge_sim.world.scenario import ChipWorld

ENV = {"temperature_c": -3.25, "pressure_pa": 96341.2, "humidity_pct": 32.9}


@pytest.fixture
def bme_bus() -> SimBus:
    return SimBus([Bme280Model(0x76, ChipWorld.constant(**ENV), SystemClock())])


def test_rpi_bme280_reads_our_chip(bme_bus):
    import bme280 as rpi_bme280  # RPi.bme280

    params = rpi_bme280.load_calibration_params(bme_bus, 0x76)
    theirs = rpi_bme280.sample(bme_bus, 0x76, params)
    ours = Bme280(bme_bus, 0x76)
    ours.init()
    mine = ours.read()
    # Within one ADC step of the world value; theirs and ours within the notes' tolerances.
    assert theirs.temperature == pytest.approx(ENV["temperature_c"], abs=0.01)
    assert theirs.pressure * 100 == pytest.approx(ENV["pressure_pa"], abs=1.0)
    assert theirs.humidity == pytest.approx(ENV["humidity_pct"], abs=0.02)
    assert mine["temperature_c"] == pytest.approx(theirs.temperature, abs=0.01)
    assert mine["pressure_pa"] == pytest.approx(theirs.pressure * 100, abs=0.1)
    assert mine["humidity_pct"] == pytest.approx(theirs.humidity, abs=0.01)


def test_bme280pi_reads_our_chip(bme_bus):
    from bme280pi.readout import read_sensor

    theirs = read_sensor(bme_bus, 0x76)
    ours = Bme280(bme_bus, 0x76)
    ours.init()
    mine = ours.read()
    assert theirs["temperature"] == pytest.approx(mine["temperature_c"], abs=0.01)
    # bme280pi computes t_fine with the integer formula: ±1 in t_fine moves P by ~0.3 Pa.
    assert theirs["pressure"] * 100 == pytest.approx(mine["pressure_pa"], abs=0.5)
    assert theirs["humidity"] == pytest.approx(mine["humidity_pct"], abs=0.01)


def test_sensirion_sht3x_reads_our_chip():
    from sensirion_driver_adapters.i2c_adapter.i2c_channel import I2cChannel
    from sensirion_i2c_driver import CrcCalculator, I2cConnection
    from sensirion_i2c_driver.transceiver_v1 import I2cTransceiverV1
    from sensirion_i2c_sht3x.commands import Repeatability
    from sensirion_i2c_sht3x.device import Sht3xDevice

    bus = SimBus(
        [Sht3xModel(0x44, ChipWorld.constant(temperature_c=23.5, humidity_pct=45.0), SystemClock())]
    )
    bus.trace = []

    class SimTransceiver(I2cTransceiverV1):
        description = "floorline emulated bus"
        channel_count = None

        def transceive(self, slave_address, tx_data, rx_length, read_delay, timeout):
            if tx_data:
                bus._w(slave_address, bytes(tx_data))
            time.sleep(read_delay)
            rx = bus._r(slave_address, rx_length) if rx_length else b""
            return self.STATUS_OK, None, rx

    channel = I2cChannel(
        I2cConnection(SimTransceiver()), slave_address=0x44, crc=CrcCalculator(8, 0x31, 0xFF, 0x0)
    )
    t, rh = Sht3xDevice(channel).measure_single_shot(Repeatability.HIGH, False)
    ours = Sht3x(bus, 0x44)
    ours.init()
    mine = ours.read()
    assert t.value == pytest.approx(23.5, abs=0.003) and rh.value == pytest.approx(45.0, abs=0.002)
    assert mine == pytest.approx({"temperature_c": t.value, "humidity_pct": rh.value})
    assert bus.trace[0] == ("W", 0x44, bytes([0x24, 0x00]))


def test_adafruit_adxl345_reads_our_chip():
    import adafruit_adxl34x

    world = ChipWorld.constant(accel_x_g=0.5, accel_y_g=-0.25, accel_z_g=1.0)
    bus = SimBus([Adxl345Model(0x53, world, SystemClock())])
    theirs = adafruit_adxl34x.ADXL345(BusioI2C(bus))
    theirs.range = adafruit_adxl34x.Range.RANGE_16_G  # forces full resolution
    time.sleep(0.02)
    counts = (theirs.raw_x, theirs.raw_y, theirs.raw_z)
    assert counts == (128, -64, 256)  # 3.9 mg/LSB full resolution
    ours = Adxl345(bus, 0x53, rate_hz=400)
    ours.init()
    samples = ours.collect(0.05)
    assert samples and all(s == pytest.approx((0.4992, -0.2496, 0.9984)) for s in samples)
    # Adafruit scales with a flat 4 mg/LSB: the same counts, 2.5 % larger in m/s².
    x_ms2 = theirs.acceleration[0]
    assert x_ms2 == pytest.approx(128 * 0.004 * 9.80665, rel=1e-6)


def test_adafruit_ina219_reads_our_chip():
    import adafruit_ina219

    world = ChipWorld.constant(current_a=0.5, bus_voltage_v=12.0)
    bus = SimBus([Ina219Model(0x40, world, SystemClock(), shunt_ohm=0.1)])
    theirs = adafruit_ina219.INA219(BusioI2C(bus), 0x40)  # 32 V / 2 A calibration: 0.1 mA LSB
    assert theirs.bus_voltage == pytest.approx(12.0)
    assert theirs.shunt_voltage == pytest.approx(0.050)
    assert theirs.current == pytest.approx(500.0)  # mA
    assert theirs.power == pytest.approx(6.0)
    ours = Ina219(bus, 0x40, shunt_ohm=0.1, current_lsb_a=0.0001)
    ours.init()
    mine = ours.read()
    assert mine["current_a"] == pytest.approx(theirs.current / 1000)
    assert mine["power_w"] == pytest.approx(theirs.power)
    assert mine["bus_voltage_v"] == pytest.approx(theirs.bus_voltage)


def test_adafruit_ads1115_reads_our_chip():
    from adafruit_ads1x15 import AnalogIn, ads1115
    from adafruit_ads1x15.ads1x15 import Pin

    world = ChipWorld.constant(ain0_v=1.8, ain1_v=0.6, ain2_v=2.4, ain3_v=3.0)
    bus = SimBus([Ads1115Model(0x48, world, SystemClock())])
    ads = ads1115.ADS1115(BusioI2C(bus))
    ads.gain = 1  # ±4.096 V
    theirs = [AnalogIn(ads, pin).voltage for pin in (Pin.A0, Pin.A1, Pin.A2, Pin.A3)]
    assert theirs == pytest.approx([1.8, 0.6, 2.4, 3.0], abs=1e-4)
    ours = Ads1115(bus, 0x48, channel=0, fsr_v=4.096, loop=Loop(150.0, 0.0, 10.0))
    ours.init()
    mine = ours.read()
    assert mine["voltage_v"] == pytest.approx(theirs[0], abs=1e-4)
    assert mine["current_ma"] == pytest.approx(12.0, abs=1e-3)
    assert mine["value"] == pytest.approx(5.0, abs=1e-3)


def test_adafruit_bme280_forced_mode_reads_our_chip(bme_bus):
    """Adafruit probes with an empty write, starts a forced conversion per property read and
    polls the status register's measuring bit — the model's timing has to be right."""
    from adafruit_bme280 import basic

    theirs = basic.Adafruit_BME280_I2C(BusioI2C(bme_bus), address=0x76)
    theirs.mode = basic.MODE_FORCE
    assert theirs.temperature == pytest.approx(ENV["temperature_c"], abs=0.01)
    assert theirs.pressure * 100 == pytest.approx(ENV["pressure_pa"], abs=1.0)
    assert theirs.relative_humidity == pytest.approx(ENV["humidity_pct"], abs=0.02)


def test_adafruit_sht31d_reads_our_chip():
    import adafruit_sht31d

    bus = SimBus(
        [
            Sht3xModel(
                0x44, ChipWorld.constant(temperature_c=-12.5, humidity_pct=88.0), SystemClock()
            )
        ]
    )
    bus.trace = []
    theirs = adafruit_sht31d.SHT31D(BusioI2C(bus), address=0x44)
    assert theirs.temperature == pytest.approx(-12.5, abs=0.003)
    assert theirs.relative_humidity == pytest.approx(88.0, abs=0.002)
    sent = [data for kind, _, data in bus.trace if kind == "W" and len(data) == 2]
    assert sent[:2] == [bytes([0x30, 0x93]), bytes([0x30, 0xA2])]  # break, then soft reset
