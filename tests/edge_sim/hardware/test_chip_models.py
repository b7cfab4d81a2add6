"""Wire-level behaviour of the chip models and the emulated bus (what real drivers rely on)."""

import errno

import pytest
from smbus2 import i2c_msg

from components.core.clock import ManualClock
from components.lib.drivers import sht3x
from edge_sim.hardware.bus import SimBus
from edge_sim.hardware.chips import (
    Ads1115Model,
    Adxl345Model,
    Bme280Model,
    Ina219Model,
    Sht3xModel,
)
from edge_sim.world.scenario import ChipWorld


@pytest.fixture
def clock():
    return ManualClock()


def test_absent_address_nacks_with_eremoteio():
    with pytest.raises(OSError) as err:
        SimBus().read_byte_data(0x76, 0xD0)
    assert err.value.errno == errno.EREMOTEIO == 121


def test_zero_length_write_probe_and_block_limit(clock):
    bus = SimBus([Bme280Model(0x76, clock=clock)])
    bus.write_quick(0x76)
    with pytest.raises(ValueError):
        bus.read_i2c_block_data(0x76, 0x88, 33)
    with pytest.raises(ValueError):
        bus.write_i2c_block_data(0x76, 0xF4, [0] * 33)


def test_bme280_writes_are_register_value_pairs_and_ctrl_hum_latches(clock):
    chip = Bme280Model(0x76, clock=clock)
    bus = SimBus([chip])
    bus.write_i2c_block_data(0x76, 0xF2, [0x03, 0xF5, 0x10])  # F2=3, F5=0x10
    assert chip.regs[0xF2] == 0x03 and chip.regs[0xF5] == 0x10 and chip.regs[0xF3] == 0
    assert chip.hum_latched == 0  # not yet: only the next ctrl_meas write latches it
    bus.write_byte_data(0x76, 0xF4, 0b001_001_01)
    assert chip.hum_latched == 3
    assert bus.read_byte_data(0x76, 0xF3) & 0x08  # measuring
    clock.advance(0.1)
    assert not bus.read_byte_data(0x76, 0xF3) & 0x08
    assert bus.read_byte_data(0x76, 0xF4) & 3 == 0  # forced mode fell back to sleep


def test_bme280_skipped_channel_reads_reset_value(clock):
    bus = SimBus([Bme280Model(0x76, clock=clock)])
    bus.write_byte_data(0x76, 0xF2, 0)  # humidity skipped
    bus.write_byte_data(0x76, 0xF4, 0b001_000_01)  # pressure skipped
    clock.advance(0.05)
    data = bus.read_i2c_block_data(0x76, 0xF7, 8)
    assert data[0:3] == [0x80, 0, 0] and data[6:8] == [0x80, 0]
    assert data[3:6] != [0x80, 0, 0]


def test_sht3x_nacks_until_ready_and_ignores_lone_byte(clock):
    bus = SimBus(
        [Sht3xModel(0x44, ChipWorld.constant(temperature_c=23.5, humidity_pct=45.0), clock)]
    )
    bus.i2c_rdwr(i2c_msg.write(0x44, [0x24, 0x00]))
    clock.advance(0.010)
    with pytest.raises(OSError):
        bus.i2c_rdwr(i2c_msg.read(0x44, 6))
    clock.advance(0.006)
    bus.write_byte(0x44, 0x00)  # the stray register byte some drivers send: ignored
    msg = i2c_msg.read(0x44, 6)
    bus.i2c_rdwr(msg)
    assert bytes(msg) == bytes.fromhex("643456733301")  # the datasheet worked example
    with pytest.raises(OSError):  # nothing pending any more
        bus.i2c_rdwr(i2c_msg.read(0x44, 6))


def test_sht3x_periodic_fetch_and_status(clock):
    chip = Sht3xModel(0x44, ChipWorld.constant(temperature_c=20.0, humidity_pct=30.0), clock)
    bus = SimBus([chip])
    bus.i2c_rdwr(i2c_msg.write(0x44, [0x27, 0x3A]))  # 10 mps, vendor variant code
    clock.advance(0.35)
    bus.i2c_rdwr(i2c_msg.write(0x44, [0xE0, 0x00]))
    msg = i2c_msg.read(0x44, 6)
    bus.i2c_rdwr(msg)
    assert sht3x.decode_measurement(bytes(msg))["temperature_c"] == pytest.approx(20.0, abs=0.01)
    bus.i2c_rdwr(i2c_msg.write(0x44, [0xE0, 0x00]))  # no new data yet
    with pytest.raises(OSError):
        bus.i2c_rdwr(i2c_msg.read(0x44, 6))
    bus.i2c_rdwr(i2c_msg.write(0x44, [0x30, 0x93]), i2c_msg.write(0x44, [0xF3, 0x2D]))
    status = i2c_msg.read(0x44, 3)
    bus.i2c_rdwr(status)
    assert sht3x.check_words(bytes(status)) == [0x8010]


def test_adxl345_fifo_counts_and_pops(clock):
    world = ChipWorld.constant(accel_x_g=0.0, accel_y_g=0.0, accel_z_g=1.0)
    bus = SimBus([Adxl345Model(0x53, world, clock)])
    for reg, value in [(0x31, 0x0B), (0x2C, 0x0A), (0x38, 0x90), (0x2D, 0x08)]:
        bus.write_byte_data(0x53, reg, value)
    clock.advance(0.1)  # 10 samples at 100 Hz
    assert bus.read_byte_data(0x53, 0x39) & 0x3F == 10
    z = bus.read_i2c_block_data(0x53, 0x32, 6)
    assert z[4] | z[5] << 8 == 256  # 1 g / 3.9 mg
    assert bus.read_byte_data(0x53, 0x39) & 0x3F == 9


def test_ina219_word_data_is_byte_swapped_and_reset_clears_calibration(clock):
    chip = Ina219Model(0x40, ChipWorld.constant(current_a=0.5, bus_voltage_v=12.0), clock)
    bus = SimBus([chip])
    assert bus.read_word_data(0x40, 0x00) == 0x9F39  # 0x399F on the wire, MSB first
    bus.write_i2c_block_data(0x40, 0x05, [0x10, 0x00])
    assert bus.read_i2c_block_data(0x40, 0x04, 2) == [0x13, 0x88]  # 5000 -> 500 mA
    bus.write_i2c_block_data(0x40, 0x00, [0x80, 0x00])
    assert bus.read_i2c_block_data(0x40, 0x05, 2) == [0, 0]


def test_ads1115_os_bit_busy_during_conversion(clock):
    bus = SimBus(
        [Ads1115Model(0x48, ChipWorld.constant(ain0_v=1.8, ain1_v=0, ain2_v=0, ain3_v=0), clock)]
    )
    bus.write_i2c_block_data(0x48, 0x01, [0xC3, 0x83])
    assert bus.read_i2c_block_data(0x48, 0x01, 2)[0] & 0x80 == 0
    clock.advance(1 / 128)
    assert bus.read_i2c_block_data(0x48, 0x01, 2)[0] & 0x80
    assert bus.read_i2c_block_data(0x48, 0x00, 2) == [0x38, 0x40]  # 14400 counts = 1.800 V


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from components.lib.drivers import bme280 as bme280_drv  # noqa: E402
from edge_sim.hardware.chips.bme280 import DEFAULT_CAL, calibration_bytes, raw_for  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.floats(-40, 85), st.floats(30000, 110000), st.floats(0, 100))
def test_bme280_model_inverts_the_compensation(t_c, p_pa, h_pct):
    """Whatever the world says, the raw values the model emits decode back to it (one LSB)."""
    adc_p, adc_t, adc_h = raw_for(DEFAULT_CAL, t_c, p_pa, h_pct)
    out = bme280_drv.compensate(DEFAULT_CAL, adc_p, adc_t, adc_h)
    assert out["temperature_c"] == pytest.approx(t_c, abs=0.005)
    assert out["pressure_pa"] == pytest.approx(p_pa, abs=0.5)
    assert out["humidity_pct"] == pytest.approx(h_pct, abs=0.01)


def test_bme280_calibration_image_parses_back():
    tp, h = calibration_bytes(DEFAULT_CAL)
    assert bme280_drv.parse_calibration(tp, tp[25], h) == DEFAULT_CAL
