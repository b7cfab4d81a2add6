"""SensorService in-process on virtual time: per-sensor intervals, batching, config errors."""

import pytest

from components.core.clock import ManualClock
from components.core.config import ConfigError
from components.core.log import Log
from components.sensors.service import SensorService
from components.sensors.settings import SPEC
from edge_sim.hardware.bus import build_bus
from edge_sim.world import scenario


def test_intervals_and_batches(tmp_path):
    clock = ManualClock()
    bus = build_bus(scenario.load({"chips": [{"chip": "sht3x", "address": "0x44"},
                                             {"chip": "ina219", "address": "0x40"}]}), clock)
    cfg = SPEC.parse({"deviceName": "d1", "sampleIntervalSeconds": 1.0, "batchSize": 4,
                      "batchMaxSeconds": 60,
                      "sensors": [{"chip": "sht3x", "address": "0x44"},
                                  {"chip": "ina219", "address": "0x40",
                                   "intervalSeconds": 0.25}]})
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


@pytest.mark.parametrize("sensors, key", [
    ([{"chip": "lm75", "address": "0x48"}], "sensors"),
    ([{"chip": "sht3x", "address": "0x44"}, {"chip": "bme280", "address": "0x44"}], "sensors"),
    ([{"chip": "sht3x", "address": "0x99"}], "sensors"),
    ([{"chip": "sht3x", "address": "0x44", "intervalSeconds": 0}], "sensors"),
])
def test_bad_sensor_entries_are_rejected_by_key(sensors, key):
    with pytest.raises(ConfigError) as err:
        SPEC.parse({"sensors": sensors})
    assert key in err.value.errors
