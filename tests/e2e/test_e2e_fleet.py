"""A small fleet end to end: real component processes from the built artifacts, the real IPC
and Stream Manager clients, Mosquitto with mutual TLS, the IoT rules, the lake. An outage and
a killed uplink in the middle; afterwards, from sequence numbers alone, every record produced
is in the lake exactly once."""

from __future__ import annotations

import pytest

from cloud.lake.query import query
from edge_sim.fleet import Fleet
from edge_sim.fleet_faults import ScheduledFault
from edge_sim.fleet_site import UPLINK

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    faults = [
        ScheduledFault(at_s=8, kind="outage", devices=None, duration_s=10),
        ScheduledFault(at_s=12, kind="kill", devices=("dev-001",), component=UPLINK),
    ]
    fleet = Fleet(out, 2, seed=7, faults=faults, anomaly_at_s=5)
    try:
        fleet.start()
        fleet.run(30)
        fleet.drain(60)
    finally:
        result = fleet.stop()
    return fleet, result


def test_every_record_produced_is_in_the_lake_exactly_once(fleet_run):
    _fleet, res = fleet_run
    assert res is not None
    assert res.unaccounted == 0
    assert res.duplicates_in_lake == 0
    assert sum(res.produced.values()) > 200
    assert res.delivered == res.produced, (res.produced, res.delivered, res.buffered)
    assert res.kills == 1 and not res.broken


def test_the_overheating_machine_raised_and_cleared_one_critical_alert(fleet_run):
    _fleet, res = fleet_run
    # The BME280 on dev-001 sees a 15 °C spike for 20 s; the analytics threshold (30 °C) raises
    # one alert on the device and clears it, and both reach the lake.
    assert res.alerts_raised == 1 and res.alerts_cleared == 1
    assert res.delivered["aggregate"] > 0


def test_the_lake_holds_every_kind_of_reading_and_the_rules_kept_device_state(fleet_run):
    fleet, _res = fleet_run
    from cloud.lake.store import Lake
    from components.core.clock import SystemClock

    with Lake(fleet.out / "lake", clock=SystemClock()) as lake:
        _, rows = query(lake, "SELECT DISTINCT device, split_part(stream, '/', 1) FROM telemetry")
        state = lake.latest_state()
    for device in ("dev-001", "dev-002"):
        kinds = {k for d, k in rows if d == device}
        # BME280 + SHT3x, INA219, ADS1115 4-20 mA loop, ADXL345 vibration, RFID presence.
        assert {"env", "power", "loop", "vib", "rfid"} <= kinds, (device, kinds)
        assert state[device]["site"] == "site-1"
    # The device-state rule (DynamoDB v2 action) ran for both devices.
    assert set(fleet.cloud.state.items) == {"dev-001", "dev-002"}


def test_lan_records_posted_to_the_gateway_reach_the_lake_once(tmp_path):
    """A POS terminal posts to the site gateway's HTTP ingest; the records travel through the
    log and the normal uplink into the lake, once each, even when the terminal retries."""
    import hashlib
    import re
    import time

    import requests

    from cloud.lake.store import Lake
    from components.core.clock import SystemClock

    token = "pos-17-secret"
    fleet = Fleet(
        tmp_path / "fleet",
        1,
        seed=3,
        extra_config={
            "com.floorline.HttpIngest": {
                "tokenSha256ByDevice": {"pos-17": hashlib.sha256(token.encode()).hexdigest()}
            }
        },
    )
    try:
        fleet.start()
        log_file = tmp_path / "fleet/devices/dev-001/logs/com.floorline.HttpIngest.log"
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            m = re.search(
                r"event=listening address=\S+ port=(\d+)",
                log_file.read_text() if log_file.exists() else "",
            )
            port = int(m.group(1)) if m else None
            time.sleep(0.2)
        assert port, "HTTP ingest did not start"
        sales = [
            {
                "device": "pos-17",
                "type": "pos_sale",
                "id": f"sale-{i}",
                "data": {
                    "receipt_id": f"r-{i}",
                    "total_cents": 250 + i,
                    "currency": "EUR",
                    "lines": [{"sku": "ferry-adult", "quantity": 1, "unit_price_cents": 250 + i}],
                },
            }
            for i in range(20)
        ]
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "batch-1"}
        url = f"http://127.0.0.1:{port}/v1/records"
        first = requests.post(url, json=sales, headers=headers, timeout=10)
        again = requests.post(url, json=sales, headers=headers, timeout=10)  # a retry
        assert first.status_code == 202, first.text
        assert again.json()["replayed"] is True
        ids = [(r["device"], r["stream"], r["seq"]) for r in first.json()["results"]]
        assert [(r["device"], r["stream"], r["seq"]) for r in again.json()["results"]] == ids
        fleet.run(10)
        fleet.drain(60)
    finally:
        res = fleet.stop()
    assert res is not None and res.unaccounted == 0
    with Lake(fleet.out / "lake", clock=SystemClock()) as lake:
        _, rows = query(
            lake,
            "SELECT json_extract_string(payload, '$.id'), count(*) "
            "FROM telemetry WHERE device = 'pos-17' GROUP BY 1",
        )
    assert sorted(rows) == sorted((f"sale-{i}", 1) for i in range(20))
    # No secret anywhere the run wrote: component logs, device logs, Stream Manager, the
    # lake's Parquet and databases, the broker's files (the recipe holds only the hash).
    leaks = [p for p in fleet.out.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert leaks == []
