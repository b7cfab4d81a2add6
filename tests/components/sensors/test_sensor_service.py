"""SensorService in-process on virtual time: per-sensor intervals, batching, config errors."""

import pytest

from components.core.clock import ManualClock
from components.core.config import ConfigError
from components.core.log import Log
from components.sensors.config import SPEC
from components.sensors.service import SensorService
from edge_sim.hardware.bus import SimBus, build_bus
from edge_sim.world import scenario


def test_intervals_and_batches(tmp_path):
    clock = ManualClock()
    bus = build_bus(
        scenario.load(
            {"chips": [{"chip": "sht3x", "address": "0x44"}, {"chip": "ina219", "address": "0x40"}]}
        ),
        clock,
    )
    cfg = SPEC.parse(
        {
            "sampleIntervalSeconds": 1.0,
            "logBatchMaxRecords": 4,
            "logBatchMaxSeconds": 60,
            "healthIntervalSeconds": 4.0,
            "chips": [
                {"driver": "sht3x", "address": "0x44"},
                {"driver": "ina219", "address": "0x40", "sampleIntervalSeconds": 0.25},
            ],
        }
    )
    with Log.open(tmp_path / "log.db", device="d1", clock=clock) as store:
        svc = SensorService(cfg, store, bus, clock, clock.advance)
        for _ in range(40):  # 10 s of virtual time in 0.25 s steps
            svc.cycle()
            clock.advance(0.25)
        pending_before_flush = svc.stats()["pending"]
        svc.flush()
        by_stream: dict[str, int] = {}
        for rec in store.snapshot_records():
            by_stream[rec.stream] = by_stream.get(rec.stream, 0) + 1
    assert 0 < pending_before_flush < 4  # readings wait for a full batch (or the final flush)
    assert 9 <= by_stream["env/sht3x@0x44"] <= 11
    assert 38 <= by_stream["power/ina219@0x40"] <= 41
    # healthIntervalSeconds 4: a statistics record per chip at 4 s and 8 s.
    assert by_stream["health/sht3x@0x44"] == by_stream["health/ina219@0x40"] == 2


@pytest.mark.parametrize(
    "sensors, key",
    [
        ([{"driver": "lm75", "address": "0x48"}], "chips"),
        (
            [{"driver": "sht3x", "address": "0x44"}, {"driver": "bme280", "address": "0x44"}],
            "chips",
        ),
        ([{"driver": "sht3x", "address": "0x99"}], "chips"),
        ([{"driver": "sht3x", "address": "0x44", "sampleIntervalSeconds": 0}], "chips"),
    ],
)
def test_bad_sensor_entries_are_rejected_by_key(sensors, key):
    with pytest.raises(ConfigError) as err:
        SPEC.parse({"chips": sensors})
    assert key in err.value.errors


def test_gpio_inputs_become_readings_and_events(tmp_path):
    from gpiozero.pins.mock import MockFactory

    from edge_sim.hardware.gpio import PulseSource
    from edge_sim.world.signals import Pulses

    clock = ManualClock()
    pins = MockFactory()
    cfg = SPEC.parse(
        {
            "chips": [],
            "sampleIntervalSeconds": 5.0,
            "logBatchMaxSeconds": 0,
            "gpioInputs": [
                {"kind": "pulse", "pin": "GPIO17", "name": "flow1"},
                {"kind": "contact", "pin": "GPIO27", "name": "door"},
                {"kind": "button", "pin": "GPIO22", "name": "ack"},
            ],
        }
    )
    try:
        with Log.open(tmp_path / "log.db", device="d1", clock=clock) as store:
            svc = SensorService(cfg, store, SimBus(), clock, clock.advance, pin_factory=pins)
            flow = PulseSource(pins.pin(17), Pulses("flow", rate_hz=2.0, wander=0.0), clock)
            for step in range(100):  # 10 s
                clock.advance(0.1)
                flow.update()
                if step == 30:
                    pins.pin(27).drive_low()  # door shut
                if step == 60:
                    pins.pin(27).drive_high()  # door opened
                    pins.pin(22).drive_low()
                    pins.pin(22).drive_high()
                svc.cycle()
            svc.close()
            records = list(store.snapshot_records())
    finally:
        pins.close()
    pulses = [r.payload for r in records if r.stream == "pulse/flow1@GPIO17"]
    assert [p["pulses"] for p in pulses] == [10, 10]
    assert pulses[-1]["count"] == 20 and pulses[-1]["rate_per_s"] == pytest.approx(2.0)
    assert all(r.cls == "raw" for r in records if r.stream.startswith("pulse/"))
    door = [(r.cls, r.payload["event"]) for r in records if r.stream == "contact/door@GPIO27"]
    assert door == [("event", "closed"), ("event", "opened")]
    assert [r.payload["event"] for r in records if r.stream == "button/ack@GPIO22"] == ["pressed"]


@pytest.mark.parametrize(
    "entry",
    [
        {"driver": "bme280", "address": "0x76", "oversampling": [3, 1, 1]},
        {"driver": "bme280", "address": "0x76", "mode": "turbo"},
        {"driver": "adxl345", "address": "0x53", "rateHz": 300},
        {"driver": "ads1115", "address": "0x48", "fullScaleVolts": 5.0},
        {"driver": "ina219", "address": "0x40", "shuntOhm": "thick"},
        {"driver": "sht3x", "address": "0x44", "repeatability": "always"},
    ],
)
def test_bad_chip_options_are_rejected_at_configuration_time(entry):
    with pytest.raises(ConfigError) as err:
        SPEC.parse({"chips": [entry]})
    assert entry["driver"] in err.value.errors["chips"]


class _CommitTimes:
    """The real log, noting on the virtual clock when each record reached it."""

    def __init__(self, store: Log, clock: ManualClock) -> None:
        self.store, self.clock = store, clock
        self.waited_s: dict[str, list[float]] = {}

    def append_records(self, records):
        now = self.clock.monotonic_ns()
        for r in records:
            self.waited_s.setdefault(r.stream, []).append((now - r.mono_ns) / 1e9)
        return self.store.append_records(records)


def test_a_windowed_chip_does_not_hold_other_readings_past_the_batch_limit(tmp_path):
    """An ADXL345 summary reads its FIFO for windowSeconds; the thermometer's readings taken
    before it still reach the log within logBatchMaxSeconds."""
    clock = ManualClock()
    bus = build_bus(
        scenario.load(
            {
                "chips": [
                    {"chip": "sht3x", "address": "0x44"},
                    {"chip": "adxl345", "address": "0x53"},
                ]
            }
        ),
        clock,
    )
    cfg = SPEC.parse(
        {
            "logBatchMaxSeconds": 0.1,
            "chips": [
                {"driver": "sht3x", "address": "0x44", "sampleIntervalSeconds": 1.0},
                {"driver": "adxl345", "address": "0x53", "windowSeconds": 0.5},
            ],
        }
    )
    with Log.open(tmp_path / "log.db", device="d1", clock=clock) as store:
        sink = _CommitTimes(store, clock)
        svc = SensorService(cfg, sink, bus, clock, clock.advance)
        for _ in range(20):
            svc.cycle()
            clock.advance(svc.next_due_s())
        svc.flush()
    env, vib = sink.waited_s["env/sht3x@0x44"], sink.waited_s["vib/adxl345@0x53"]
    assert len(env) >= 5 and len(vib) >= 5
    assert max(env) <= 0.1 and max(vib) <= 0.1
