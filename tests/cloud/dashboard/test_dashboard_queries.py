"""The dashboard's queries and document against a lake written through the real Lake API,
checked against figures computed from the ingested records themselves."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from cloud.dashboard import model, queries, snapshot

TELEMETRY_QUERIES = ("DEVICE_ACTIVITY", "DEVICE_HEALTH", "FIELD_SERIES", "FLEET_AVERAGES",
                     "SUPPLY_BY_DEVICE", "ALERT_RATE", "OPEN_ALERTS", "ALERT_HISTORY",
                     "RFID_SERIES", "RFID_READERS")  # fmt: skip


@pytest.fixture
def fleet(shared_fleet: Any) -> Any:
    return shared_fleet  # these tests only read the lake


@pytest.fixture
def con(fleet: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = snapshot.connect(snapshot.read_snapshot(fleet.root))
    yield connection
    connection.close()


def build(con: duckdb.DuckDBPyConnection, fleet: Any, settings: model.Settings,
          **filters: str) -> dict[str, Any]:  # fmt: skip
    return model.build(con, model.Filters(**filters), fleet.now_ms, settings)


def test_offline_list_is_the_lake_state_older_than_the_threshold(con, fleet, settings):
    doc = build(con, fleet, settings)
    expected = fleet.offline(fleet.now_ms, settings.offline_after_s)
    assert expected == {"dev-c"}  # the scenario has one silent device
    assert {d["device"] for d in doc["offline"]} == expected
    state = fleet.lake.latest_state()
    for row in doc["offline"]:
        assert row["last_seen_ms"] == state[row["device"]]["last_seen_ms"]
        assert row["age_s"] == (fleet.now_ms - row["last_seen_ms"]) / 1000
    assert doc["fleet"]["devices_offline"] == 1 and doc["fleet"]["devices_known"] == 3


def test_fleet_averages_match_the_records(con, fleet, settings):
    start = fleet.now_ms - 3_600_000
    doc = build(con, fleet, settings, range="1h")
    records = fleet.where(start_ms=start, end_ms=fleet.now_ms)
    fl = doc["fleet"]
    assert fl["records"] == len(records)
    assert fl["devices"] == 3
    assert fl["temperature_c"] == pytest.approx(
        fleet.mean(records, "env/bme280@0x76", "temperature_c")
    )
    assert fl["bus_voltage_v"] == pytest.approx(
        fleet.mean(records, "power/ina219@0x40", "bus_voltage_v")
    )
    humidity = [r.payload["humidity_pct"] for r in records if r.stream.startswith("env/")]
    assert fl["humidity_pct"] == pytest.approx(statistics.fmean(humidity))
    raised = [r for r in records if r.cls == "alert" and r.payload["state"] == "raised"]
    assert fl["alerts"] == len(raised) == 3  # dev-b's clear is not an alert
    assert fl["alerts_per_hour"] == pytest.approx(3.0)


def test_time_range_narrows_every_figure(con, fleet, settings):
    start = fleet.now_ms - 15 * 60_000
    doc = build(con, fleet, settings, range="15m")
    records = fleet.where(start_ms=start, end_ms=fleet.now_ms)
    assert doc["fleet"]["records"] == len(records)
    assert doc["fleet"]["temperature_c"] == pytest.approx(
        fleet.mean(records, "env/bme280@0x76", "temperature_c")
    )
    assert {row["device"] for row in doc["drift"]} == {"dev-a", "dev-b"}  # dev-c went silent
    assert set(doc["charts"]["temperature"]["series"]) == {"dev-a", "dev-b"}
    assert doc["range"]["start_ms"] == start and doc["range"]["end_ms"] == fleet.now_ms


def test_temperature_series_are_bucket_means_of_the_chosen_sensor(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    bucket = doc["range"]["bucket_ms"]
    assert bucket == 60_000  # an hour in at most 60 buckets
    series = doc["charts"]["temperature"]["series"]
    assert set(series) == {"dev-a", "dev-b", "dev-c"}
    for device, points in series.items():
        readings = [r for r in fleet.where(device=device) if r.stream == "env/bme280@0x76"]
        expected: dict[int, list[float]] = {}
        for r in readings:
            expected.setdefault(r.wall_ms - r.wall_ms % bucket, []).append(
                r.payload["temperature_c"]
            )
        assert [p[0] for p in points] == sorted(expected)
        for at, value in points:
            assert value == pytest.approx(statistics.fmean(expected[at]))
            assert value < 40  # the sht3x stream (base + 50 °C) is not mixed in


def test_drift_is_first_to_last_bucket(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    rows = {row["device"]: row for row in doc["drift"]}
    assert rows["dev-a"]["delta_c"] > 1.5  # +0.05 °C/min over 35 min
    assert rows["dev-b"]["delta_c"] < -0.5  # -0.02 °C/min
    assert rows["dev-a"]["per_hour_c"] == pytest.approx(3.0, rel=0.05)
    lasts = [row["last_c"] for row in rows.values()]
    for row in rows.values():
        assert row["offset_from_fleet_c"] == pytest.approx(row["last_c"] - statistics.fmean(lasts))


def test_health_battery_and_faults(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    health = {row["device"]: row for row in doc["health"]}
    assert health["dev-b"]["sensors_faulty"] == [
        {"stream": "env/bme280@0x76", "state": "not_responding"}
    ]
    assert health["dev-a"]["sensors_ok"] == 1 and health["dev-a"]["sensors_faulty"] == []
    assert health["dev-c"]["offline"] is True and health["dev-a"]["offline"] is False
    assert health["dev-b"]["alerts"] == 1  # raised once, then cleared
    for device, row in health.items():
        volts = [r for r in fleet.where(device=device) if r.stream == "power/ina219@0x40"]
        assert row["last_bus_voltage_v"] == pytest.approx(
            max(volts, key=lambda r: r.wall_ms).payload["bus_voltage_v"]
        )
        assert row["min_bus_voltage_v"] == pytest.approx(
            min(r.payload["bus_voltage_v"] for r in volts)
        )
        assert row["last_battery_pct"] is None  # no battery_pct key in this fleet's payloads
        assert row["records"] == len(fleet.where(device=device))


def test_anomaly_flags_are_alerts_not_cleared(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    flags = {row["alert_id"]: row for row in doc["anomalies"]}
    assert set(flags) == {"a-novelty-1", "c-info-1"}  # b-low-1 was cleared
    assert flags["a-novelty-1"]["severity"] == "warning"
    assert flags["a-novelty-1"]["detector"] == "novelty"
    assert flags["a-novelty-1"]["device"] == "dev-a"


def test_alert_rate_counts_raised_alerts_per_bucket(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    series = doc["charts"]["alerts"]["series"]
    assert set(series) == {"warning", "critical", "info"}
    assert sum(v for _, v in series["critical"]) == 1  # the clear is not counted as an alert
    start, end, bucket = (doc["range"][k] for k in ("start_ms", "end_ms", "bucket_ms"))
    every_bucket = list(range(start - start % bucket, end, bucket))
    for points in series.values():  # zero-filled across the range: a rate, not a gap
        assert [at for at, _ in points] == every_bucket


def test_rfid_traffic_by_reader(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    readers = {(r["device"], r["stream"]): r for r in doc["rfid"]}
    assert set(readers) == {("dev-a", "rfid/rdm6300@ttyS0"), ("dev-c", "rfid/rdm6300@ttyUSB0")}
    a = readers[("dev-a", "rfid/rdm6300@ttyS0")]
    assert (a["events"], a["arrivals"], a["distinct_tags"]) == (18, 9, 3)
    c = readers[("dev-c", "rfid/rdm6300@ttyUSB0")]
    assert (c["events"], c["arrivals"], c["distinct_tags"]) == (8, 8, 8)
    series = doc["charts"]["rfid"]["series"]
    assert sum(v for _, v in series["dev-a rfid/rdm6300@ttyS0"]) == 18


def test_site_and_device_filters(con, fleet, settings):
    north = build(con, fleet, settings, site="north")
    assert set(north["charts"]["temperature"]["series"]) == {"dev-a", "dev-b"}
    assert [d["device"] for d in north["devices"]] == ["dev-a", "dev-b"]
    assert north["offline"] == []
    assert north["sites"] == ["north", "south"]  # the selector still offers every site
    one = build(con, fleet, settings, site="north", device="dev-b")
    assert set(one["charts"]["temperature"]["series"]) == {"dev-b"}
    assert one["fleet"]["records"] == len(fleet.where(device="dev-b"))
    unknown = build(con, fleet, settings, site="east")
    assert unknown["health"] == [] and unknown["charts"]["temperature"]["series"] == {}


def test_range_all_spans_the_data(con, fleet, settings):
    doc = build(con, fleet, settings, range="all")
    times = [r.event_wall_ms for _, r in fleet.records]
    assert doc["range"]["start_ms"] == min(times)
    assert doc["range"]["end_ms"] == max(times) + 1
    assert doc["fleet"]["records"] == len(fleet.records)


def test_empty_lake(tmp_path, settings):
    from cloud.lake.store import Lake
    from components.core.clock import ManualClock

    Lake(tmp_path / "lake", clock=ManualClock()).close()
    con = snapshot.connect(snapshot.read_snapshot(tmp_path / "lake"))
    doc = model.build(con, model.Filters(), 1_795_000_000_000, settings)
    assert doc["devices"] == [] and doc["health"] == []
    assert all(chart["series"] == {} for chart in doc["charts"].values())
    assert 'data-series-count="0"' in doc["charts"]["temperature"]["svg"]


@pytest.mark.parametrize("name", TELEMETRY_QUERIES)
def test_queries_parse_as_athena_sql_with_known_functions(name):
    """Every query is Athena (Trino) SQL: it parses in that dialect and calls no function the
    dialect does not know (an unknown one would be an `Anonymous` node)."""
    scope = queries.Scope(("s1", "s2"), 0, 1, "dev", "2026-01-01", "2026-01-02")
    sql, params = queries.bind(getattr(queries, name), scope)
    tree = sqlglot.parse_one(sql, read="athena")
    unknown = [node.sql() for node in tree.find_all(exp.Anonymous)]
    assert unknown == [], f"{name} calls functions Athena's dialect does not know: {unknown}"
    assert sql.count("?") >= len(params)


def test_time_bounds_query_parses_as_athena_sql():
    sql, _ = queries.bind_sites(queries.TIME_BOUNDS_RECENT, ["s1"])
    assert list(sqlglot.parse_one(sql, read="athena").find_all(exp.Anonymous)) == []


def test_the_default_range_fits_the_data(con, fleet, settings):
    """A short run fills the charts: the default range is the first to the last event."""
    doc = build(con, fleet, settings)
    times = [r.event_wall_ms for _site, r in fleet.records]
    assert doc["filters"]["range"] == "fit"
    assert (doc["range"]["start_ms"], doc["range"]["end_ms"]) == (min(times), max(times) + 1)
    points = [p for series in doc["charts"]["temperature"]["series"].values() for p in series]
    span = doc["range"]["end_ms"] - doc["range"]["start_ms"]
    assert (
        max(p[0] for p in points) - min(p[0] for p in points)
        > 0.9 * span - doc["range"]["bucket_ms"]
    )


def test_anomaly_history_lists_raised_and_cleared_alerts_with_their_duration(con, fleet, settings):
    doc = build(con, fleet, settings, range="1h")
    history = {a["alert_id"]: a for a in doc["anomaly_history"]}
    alerts = [
        r
        for _site, r in fleet.records
        if r.cls == "alert" and r.event_wall_ms >= fleet.now_ms - 3_600_000
    ]
    assert set(history) == {r.payload["alert_id"] for r in alerts}
    for alert_id, episode in history.items():
        mine = sorted(
            (r for r in alerts if r.payload["alert_id"] == alert_id), key=lambda r: r.event_wall_ms
        )
        cleared = [r.event_wall_ms for r in mine if r.payload["state"] == "cleared"]
        assert episode["raised_ms"] == mine[0].event_wall_ms
        assert episode["state"] == ("cleared" if cleared else "open")
        end = cleared[0] if cleared else doc["range"]["end_ms"]
        assert episode["duration_s"] == (end - mine[0].event_wall_ms) / 1000
        assert episode["severity"] == mine[0].payload["severity"]
    assert history["b-low-1"]["duration_s"] == 300.0  # raised 20 min ago, cleared 15 min ago
    assert "b-low-1" not in {a["alert_id"] for a in doc["anomalies"]}  # no longer open


def test_state_query_parses_as_athena_sql():
    tree = sqlglot.parse_one(queries.STATE_DEVICES, read="athena")
    assert list(tree.find_all(exp.Anonymous)) == []
