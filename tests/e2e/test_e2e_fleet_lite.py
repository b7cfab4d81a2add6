"""A device that plays Greengrass nucleus lite (`edge_sim run --nucleus lite`): no Stream
Manager, lite's IPC answers (no UpdateState, no shadow IPC, 10,000-byte messages), the lite
deployment profile for the uplink. Every record still reaches the lake exactly once, raw
readings through IoT Core batches, and no component is refused an IPC call."""

from __future__ import annotations

import pytest

from edge_sim.fleet import Fleet
from edge_sim.fleet_site import UPLINK

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]


def test_a_lite_device_delivers_everything_once_without_stream_manager(tmp_path):
    fleet = Fleet(tmp_path / "fleet", 1, seed=5, anomaly_at_s=4, nucleus="lite")
    try:
        fleet.start()
        device = fleet.devices["dev-001"]
        assert device.sm is None and device.nucleus.flavour == "lite"
        fleet.run(25)
        fleet.drain(60)
        stats = device.nucleus.stats()
    finally:
        res = fleet.stop()
    assert res is not None
    assert res.unaccounted == 0 and res.duplicates_in_lake == 0
    assert sum(res.produced.values()) > 100
    assert res.delivered == res.produced, (res.produced, res.delivered, res.buffered)
    assert not res.broken
    assert stats.get("errors.UnauthorizedError", 0) == 0
    # Every component asked for UpdateState and was told no (lite without gghealthd) ...
    assert stats.get("requests.UpdateState", 0) == stats.get("errors.ServiceError", 0) >= 5
    # ... and no request of the uplink came near lite's 10,000-byte IPC message.
    assert stats.get("frame_error_oversize", 0) == 0
    logs = tmp_path / "fleet" / "devices" / "dev-001" / "logs"
    assert "kinesis=False" in (logs / f"{UPLINK}.log").read_text()
