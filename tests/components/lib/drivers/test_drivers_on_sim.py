"""Our drivers against the emulated chips on virtual time: readings, faults, hot-plug, scan."""

import pytest

from components.lib.drivers.ads1115 import Ads1115, Loop
from components.lib.drivers.adxl345 import Adxl345
from components.lib.drivers.bme280 import Bme280
from components.lib.drivers.ina219 import Ina219
from components.lib.drivers.scan import scan
from components.lib.drivers.sht3x import Sht3x
from components.sensors.supervisor import SensorSupervisor
from edge_sim.hardware.bus import SimBus, build_bus
from edge_sim.hardware.chips import Adxl345Model, Bme280Model, Sht3xModel
from edge_sim.world import scenario
from edge_sim.world.scenario import ChipWorld


def test_bme280_forced_mode_reads_world(clock):
    world = ChipWorld.constant(temperature_c=18.4, pressure_pa=99000.0, humidity_pct=61.0)
    bus = SimBus([Bme280Model(0x77, world, clock)])
    d = Bme280(bus, 0x77, sleep=clock.advance, oversampling=(2, 16, 1))
    d.init()
    r = d.read()
    assert r["temperature_c"] == pytest.approx(18.4, abs=0.01)
    assert r["pressure_pa"] == pytest.approx(99000.0, abs=0.5)
    assert r["humidity_pct"] == pytest.approx(61.0, abs=0.02)


def test_bme280_normal_mode_with_iir_filter_converges(clock):
    t = {"v": 20.0}

    class Step:
        def value(self, t_s):
            return t["v"]

    world = ChipWorld(
        signals={
            "temperature_c": Step(),
            "pressure_pa": scenario.build_signal("p", {"base": 1e5}, 0, ()),
            "humidity_pct": scenario.build_signal("h", {"base": 50}, 0, ()),
        }
    )
    bus = SimBus([Bme280Model(0x76, world, clock)])
    d = Bme280(bus, 0x76, sleep=clock.advance, mode="normal", iir_filter=4, standby_ms=62.5)
    d.init()
    clock.advance(1.0)
    assert d.read()["temperature_c"] == pytest.approx(20.0, abs=0.01)
    t["v"] = 30.0
    clock.advance(0.075)  # one more conversion: the filter moves a quarter of the step
    first = d.read()["temperature_c"]
    assert 21.0 < first < 24.0
    clock.advance(2.0)
    assert d.read()["temperature_c"] == pytest.approx(30.0, abs=0.05)


def test_bmp280_is_recognised_and_said_so(clock):
    bus = SimBus(
        [
            Bme280Model(
                0x76, ChipWorld.constant(temperature_c=20, pressure_pa=1e5), clock, chip_id=0x58
            )
        ]
    )
    d = Bme280(bus, 0x76, sleep=clock.advance)
    d.init()
    r = d.read()
    assert r["chip"] == "bmp280" and "humidity_pct" not in r
    assert r["temperature_c"] == pytest.approx(20.0, abs=0.01)


def test_sht3x_noisy_line_crc_errors_never_become_readings(clock):
    world = ChipWorld.constant(temperature_c=25.0, humidity_pct=50.0)
    world = ChipWorld(
        world.signals,
        scenario.chip_world(
            "sht3x", "k", 3, None, [{"kind": "noisy_line", "startSeconds": 0, "magnitude": 0.4}]
        ).faults,
        seed=3,
        key="k",
    )
    bus = SimBus([Sht3xModel(0x44, world, clock)])
    sup = SensorSupervisor(
        Sht3x(bus, 0x44, sleep=clock.advance),
        clock,
        clock.advance,
        attempts=2,
        reinit_interval_s=0.0,
    )
    readings = []
    for _ in range(60):
        r = sup.poll()
        if r.reading:
            readings.append(r.reading)
        clock.advance(1.0)
    assert sup.counts["crc_errors"] > 0 and sup.counts["bus_errors"] > 0
    assert readings and all(
        r["temperature_c"] == pytest.approx(25.0, abs=0.01)
        and r["humidity_pct"] == pytest.approx(50.0, abs=0.01)
        for r in readings
    )


def test_adxl345_fifo_stream_at_400_hz_without_overrun(clock):
    world = scenario.chip_world("adxl345", "vib", 1)
    bus = SimBus([Adxl345Model(0x53, world, clock)])
    d = Adxl345(bus, 0x53, sleep=clock.advance, rate_hz=400)
    d.init()
    samples = d.collect(1.0)
    assert len(samples) >= 400 and d.overruns == 0
    r = d.read(window_s=0.5)
    assert r["rms_x_g"] == pytest.approx(0.2 / 2**0.5, rel=0.05)
    assert r["overruns"] == 0
    # The world's motor runs at 24.5 Hz; 200 samples at 400 Hz resolve 2 Hz.
    assert r["dominant_hz"] == pytest.approx(24.5, abs=1.0)


def test_adxl345_overrun_counted_when_drained_too_late(clock):
    bus = SimBus([Adxl345Model(0x53, scenario.chip_world("adxl345", "v", 1), clock)])
    d = Adxl345(bus, 0x53, sleep=clock.advance, rate_hz=800)
    d.init()
    clock.advance(0.2)  # 160 samples into a 32-entry FIFO
    assert len(d.drain()) == 32
    assert d.overruns == 1


def test_ina219_and_ads1115_on_a_scenario_bus(clock):
    specs = scenario.load(
        {
            "seed": 2,
            "chips": [
                {
                    "chip": "ina219",
                    "address": "0x41",
                    "shunt_ohm": 0.05,
                    "signals": {"current_a": {"base": 1.5}, "bus_voltage_v": {"base": 24.0}},
                },
                {"chip": "ads1115", "address": "0x48", "signals": {"ain0_v": {"base": 0.6}}},
            ],
        }
    )
    bus = build_bus(specs, clock)
    ina = Ina219(bus, 0x41, sleep=clock.advance, shunt_ohm=0.05, max_expected_a=3.2)
    ina.init()
    r = ina.read()
    assert r["current_a"] == pytest.approx(1.5, abs=0.001)
    assert r["bus_voltage_v"] == pytest.approx(24.0)
    assert r["power_w"] == pytest.approx(36.0, rel=0.01)
    ads = Ads1115(bus, 0x48, sleep=clock.advance, loop=Loop(150.0, 0.0, 4.0))
    ads.init()
    assert ads.read()["current_ma"] == pytest.approx(4.0, abs=0.001)


def test_broken_loop_is_health_not_reading(clock):
    specs = scenario.load(
        {
            "chips": [
                {
                    "chip": "ads1115",
                    "address": "0x48",
                    "signals": {"ain0_v": {"base": 1.8}},
                    "faults": [
                        {"kind": "spike", "startSeconds": 10, "endSeconds": 20, "magnitude": -1.8}
                    ],
                }
            ]
        }
    )
    bus = build_bus(specs, clock)
    sup = SensorSupervisor(Ads1115(bus, 0x48, sleep=clock.advance), clock, clock.advance)
    results = []
    for _ in range(30):
        results.append(sup.poll())
        clock.advance(1.0)
    events = [h["event"] for r in results for h in r.health]
    assert events == ["loop_fault", "loop_fault_cleared"]
    assert all(r.reading["current_ma"] > 11 for r in results if r.reading)
    assert sum(1 for r in results if r.reading is None) == 10


def test_unplugged_chip_goes_faulty_then_reinitialises(clock):
    specs = scenario.load(
        {
            "seed": 5,
            "chips": [
                {
                    "chip": "bme280",
                    "address": "0x76",
                    "faults": [{"kind": "unplugged", "startSeconds": 10, "endSeconds": 25}],
                }
            ],
        }
    )
    bus = build_bus(specs, clock)
    sup = SensorSupervisor(
        Bme280(bus, 0x76, sleep=clock.advance), clock, clock.advance, reinit_interval_s=4.0
    )
    log = []
    for _ in range(40):
        r = sup.poll()
        log.append((r.reading is not None, [h["event"] for h in r.health]))
        clock.advance(1.0)
    events = [e for _, evs in log for e in evs]
    assert events == ["sensor_fault", "sensor_recovered"]
    fault = next(i for i, (_, e) in enumerate(log) if e == ["sensor_fault"])
    back = next(i for i, (_, e) in enumerate(log) if e == ["sensor_recovered"])
    assert 9 <= fault <= 11 and 25 <= back <= 30
    assert not any(ok for ok, _ in log[fault:back]) and log[back][0]
    assert sup.counts["inits"] == 2
    assert bus.chips[0x76].regs[0xF4] != 0  # the driver configured the re-powered chip


def test_health_record_carries_errno_evidence(clock):
    bus = SimBus()
    sup = SensorSupervisor(Sht3x(bus, 0x45, sleep=clock.advance), clock, clock.advance)
    [health] = sup.poll().health
    assert health["event"] == "sensor_fault" and health["errno"] == 121
    assert health["errno_name"] == "EREMOTEIO" and health["phase"] == "init"
    assert sup.poll().health == []  # no repeat while still faulty


def test_bus_scan_identifies_every_chip(clock):
    specs = scenario.load(
        {
            "chips": [
                {"chip": c, "address": a}
                for c, a in [
                    ("bme280", "0x76"),
                    ("bmp280", "0x77"),
                    ("sht3x", "0x44"),
                    ("adxl345", "0x53"),
                    ("ina219", "0x40"),
                    ("ads1115", "0x48"),
                ]
            ]
        }
    )
    found = {f.address: f.chip for f in scan(build_bus(specs, clock))}
    assert found == {
        0x76: "bme280",
        0x77: "bmp280",
        0x44: "sht3x",
        0x53: "adxl345",
        0x40: "ina219",
        0x48: "ads1115",
    }


@pytest.mark.parametrize(
    "chip, address, expect",
    [
        ("bme280", 0x76, "sensor_fault"),  # no conversion: reset values, never a reading
        ("sht3x", 0x44, "sensor_fault"),  # no data: the read is NACKed
        ("ads1115", 0x48, "loop_fault"),  # open loop: 0 mA, NAMUR fault
    ],
)
def test_signal_dropout_is_health_not_reading(clock, chip, address, expect):
    from components.lib.drivers.registry import Chip, make_driver

    specs = scenario.load(
        {
            "chips": [
                {
                    "chip": chip,
                    "address": hex(address),
                    "faults": [{"kind": "dropout", "startSeconds": 5, "endSeconds": 8}],
                }
            ]
        }
    )
    bus = build_bus(specs, clock)
    sup = SensorSupervisor(
        make_driver(Chip.default(chip, address), bus, clock.advance),
        clock,
        clock.advance,
        reinit_interval_s=1.0,
    )
    results = []
    for _ in range(15):
        results.append(sup.poll())
        clock.advance(1.0)
    events = [h["event"] for r in results for h in r.health]
    assert events[0] == expect and len(events) == 2
    gap = [i for i, r in enumerate(results) if r.reading is None]
    assert gap and 4 <= gap[0] <= 6 and gap[-1] <= 9


def test_sht3x_driver_wire_trace_has_no_register_byte(clock):
    bus = SimBus(
        [Sht3xModel(0x44, ChipWorld.constant(temperature_c=20.0, humidity_pct=50.0), clock)]
    )
    d = Sht3x(bus, 0x44, sleep=clock.advance, repeatability="medium")
    d.init()
    bus.trace = []
    d.read()
    assert [(kind, data if kind == "W" else len(data)) for kind, _, data in bus.trace] == [
        ("W", bytes([0x24, 0x0B])),
        ("R", 6),
    ]
