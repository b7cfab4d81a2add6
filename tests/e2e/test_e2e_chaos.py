"""Proof under fire: a fleet under seeded random faults, then the reckoning from sequence
numbers alone. Every committed record is in the lake exactly once or was evicted by policy
(raw only); no alert is lost; produced = in the lake + evicted + still buffered. One device's
log is damaged mid-run (every component killed) and salvaged at the concurrent restart: the
same holds across the salvage (sequence numbers resume above every number handed out, so the
lake drops nothing new as a duplicate).

CI runs a small fleet; `pytest tests/e2e/test_e2e_chaos.py --long` runs the full size
(>= 100 kills) by hand."""

from __future__ import annotations

import os
import random

import pytest

from edge_sim.fleet import Fleet
from edge_sim.fleet_faults import ScheduledFault

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

COMPONENTS = (
    "com.floorline.Sensors",
    "com.floorline.Rfid",
    "com.floorline.Uplink",
    "com.floorline.Analytics",
)


def chaos_faults(rng: random.Random, things: list[str], duration_s: float, kills: int) -> list:
    faults = []
    for _ in range(kills):  # SIGKILL of every kind of component, at random
        at = rng.uniform(3, duration_s - 5)
        faults.append(
            ScheduledFault(at, "kill", (rng.choice(things),), component=rng.choice(COMPONENTS))
        )
    d = duration_s
    faults += [
        ScheduledFault(d * 0.15, "outage", (things[0],), duration_s=d * 0.2),
        ScheduledFault(d * 0.55, "outage", None, duration_s=d * 0.15),  # fleet-wide
        ScheduledFault(d * 0.3, "kinesis_outage", None, duration_s=d * 0.15),
        ScheduledFault(d * 0.2, "noisy_serial", None, duration_s=d * 0.3, magnitude=3),
        ScheduledFault(
            d * 0.4, "disk_pressure", (things[-1],), duration_s=d * 0.3, magnitude=256 * 1024
        ),
        # A power cut damages the log; every component restarts at once: one salvage.
        ScheduledFault(d * 0.45, "log_damage", (things[0],)),
    ]
    return faults


def test_exactly_once_in_the_lake_under_faults(tmp_path, request):
    if os.geteuid() != 0:
        pytest.skip("the disk-pressure fault mounts a small tmpfs (CI runs as root)")
    long = request.config.getoption("--long")
    n, duration, kills = (5, 300.0, 120) if long else (3, 60.0, 12)
    rng = random.Random(20261122)
    things = [f"dev-{i + 1:03d}" for i in range(n)]
    faults = chaos_faults(rng, things, duration, kills)
    fleet = Fleet(
        tmp_path / "fleet",
        n,
        seed=5,
        faults=sorted(faults, key=lambda f: f.at_s),
        anomaly_at_s=10,
        chip_faults={
            "0x44": [{"kind": "unplugged", "startSeconds": 15, "endSeconds": 25}],
            "0x40": [{"kind": "noisy_line", "startSeconds": 5, "endSeconds": 40, "magnitude": 0.2}],
        },
        unsynced_s={things[1]: duration * 0.3},
        data_disk_bytes=8 << 20,
        extra_config={
            "com.floorline.Sensors": {"freeDiskFloorBytes": 1 << 20},
            "com.floorline.Rfid": {"freeDiskFloorBytes": 1 << 20},
            "com.floorline.Uplink": {"freeDiskFloorBytes": 1 << 20},
        },
    )
    try:
        fleet.start()
        fleet.run(duration)
        fleet.drain(120)
    finally:
        res = fleet.stop(drain_s=60)
    print(res.as_dict())
    assert res is not None
    assert sum(res.produced.values()) > 300
    assert res.kills >= kills * 0.8  # a kill of a component already down does not count
    assert res.unaccounted == 0, res.as_dict()
    assert res.duplicates_in_lake == 0
    assert set(res.evicted) <= {"raw"}, res.evicted  # only raw is ever evicted by policy
    assert res.delivered.get("alert", 0) == res.produced.get("alert", 0)  # no alert lost
    for cls, produced in res.produced.items():
        assert produced == res.delivered[cls] + res.evicted[cls] + res.buffered[cls], cls
    assert not res.broken
    assert res.salvages >= 1, res.as_dict()  # the damage was found and salvaged
