"""The dashboard's content: filters in, one JSON-ready document out.

`build(con, filters, now_ms, settings)` runs the queries of queries.py on a connection that has
`telemetry` and `latest_state` (snapshot.connect) and shapes the result; the pure helpers
(bucket size, drift, health, zero-filled counts) are separate so they are testable alone.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import duckdb

from cloud.dashboard import queries as q
from cloud.dashboard.charts import Point, line_chart
from components.core import battery
from components.core.envelope import validate_device

RANGES_S: Final = {"fit": None, "15m": 900, "1h": 3600, "6h": 21_600, "24h": 86_400,
                   "7d": 604_800, "all": None}  # fmt: skip
# "fit": from the first to the last event of recent days, so a short run fills the charts;
# at most FIT_MAX_S of the newest data, looking FIT_LOOKBACK_DAYS back.
DEFAULT_RANGE: Final = "fit"
FIT_MAX_S: Final = 86_400
FIT_LOOKBACK_DAYS: Final = 7
MIN_SPAN_MS: Final = 60_000  # a range never narrower than a minute
# Bucket sizes a chart may use; the smallest giving at most `target_points` buckets wins.
NICE_BUCKETS_S: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
                         10_800, 21_600, 43_200, 86_400)  # fmt: skip
ALL_DATES: Final = ("0001-01-01", "9999-12-31")
_SITE_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:-")


class FilterError(ValueError):
    """A filter value from the query string that is not acceptable; `.evidence` holds it."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass(frozen=True)
class Filters:
    site: str | None = None
    device: str | None = None
    range: str = DEFAULT_RANGE

    @classmethod
    def from_query(cls, params: Mapping[str, Sequence[str]]) -> Filters:
        """From a parsed query string (`urllib.parse.parse_qs`); empty values mean "all"."""
        unknown = set(params) - {"site", "device", "range"}
        if unknown:
            raise FilterError(f"unknown filter(s) {sorted(unknown)}", sorted(unknown))
        site = (params.get("site") or [""])[-1] or None
        device = (params.get("device") or [""])[-1] or None
        range_name = (params.get("range") or [""])[-1] or DEFAULT_RANGE
        if site is not None and not set(site) <= _SITE_CHARS:
            raise FilterError(f"site {site!r} is not a valid site name", site)
        if device is not None:
            try:
                validate_device(device)
            except ValueError:
                raise FilterError(f"device {device!r} is not a valid thing name", device) from None
        if range_name not in RANGES_S:
            raise FilterError(f"range {range_name!r} is not one of {list(RANGES_S)}", range_name)
        return cls(site=site, device=device, range=range_name)


@dataclass(frozen=True)
class Settings:
    offline_after_s: float = 300.0  # no ingest from a device for this long: offline
    temperature_stream: str = "env/bme280@%"  # SQL LIKE pattern of the drift chart's sensor
    target_points: int = 60  # buckets per chart
    # Drift is a trend: no rate per hour from less than this much data (a spike in a short
    # window is not a drift).
    drift_min_window_s: float = 900.0
    # Lithium-ion cells in series behind the INA219 bus voltage: the battery column estimates
    # their charge (components/core/battery.py) when a stream does not report battery_pct.
    # None: the supply is not a battery.
    battery_cells: int | None = None


def bucket_ms_for(span_ms: int, target_points: int) -> int:
    """The smallest nice bucket that splits `span_ms` into at most `target_points` buckets."""
    for step_s in NICE_BUCKETS_S:
        if span_ms <= step_s * 1000 * target_points:
            return step_s * 1000
    return NICE_BUCKETS_S[-1] * 1000 * math.ceil(span_ms / (NICE_BUCKETS_S[-1] * 1000 *
                                                             target_points))  # fmt: skip


def day_of(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def zero_filled(counts: Mapping[int, float], start_ms: int, end_ms: int, bucket_ms: int
                ) -> list[Point]:  # fmt: skip
    """Count series with an explicit 0 for every empty bucket in range (a rate, not a gap)."""
    first = start_ms - start_ms % bucket_ms
    return [(b, float(counts.get(b, 0))) for b in range(first, end_ms, bucket_ms)]


def trend_per_hour(points: Sequence[Point]) -> float | None:
    """The Theil-Sen slope (the median of the slopes between every pair of points) in units
    per hour: a steady trend, which a short spike among many points does not move."""
    slopes = sorted(
        (v1 - v0) / (t1 - t0)
        for i, (t0, v0) in enumerate(points)
        for t1, v1 in points[i + 1 :]
        if t1 != t0
    )
    if not slopes:
        return None
    mid = len(slopes) // 2
    median = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
    return median * 3_600_000


def drift(series: Mapping[str, Sequence[Point]], min_window_s: float = 900.0
          ) -> list[dict[str, Any]]:  # fmt: skip
    """Per device: temperature at the first and last bucket, the change, the trend per hour
    over the whole range (None when the data span less than `min_window_s`), and how far the
    last value sits from the fleet's mean of last values."""
    rows: list[dict[str, Any]] = []
    lasts: dict[str, float] = {}
    for device, points in sorted(series.items()):
        valid = sorted(p for p in points if p[1] is not None and math.isfinite(p[1]))
        if not valid:
            continue
        (first_ms, first_c), (last_ms, last_c) = valid[0], valid[-1]
        window_s = (last_ms - first_ms) / 1000
        lasts[device] = last_c
        rows.append({
            "device": device, "first_c": first_c, "last_c": last_c,
            "delta_c": last_c - first_c, "window_s": window_s,
            "per_hour_c": trend_per_hour(valid) if window_s >= min_window_s else None,
        })  # fmt: skip
    fleet_mean = sum(lasts.values()) / len(lasts) if lasts else None
    for row in rows:
        row["offset_from_fleet_c"] = row["last_c"] - fleet_mean if fleet_mean is not None else None
    return rows


def health_of(reports: Sequence[tuple[str, str, str, int]]) -> dict[str, dict[str, Any]]:
    """(device, stream, payload JSON, at_ms) newest health reports -> per device: sensors OK,
    sensors faulty (with their state), reader frame rejects."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"sensors_ok": 0, "sensors_faulty": [], "reader_rejects": 0, "health_ms": None}
    )
    for device, stream, payload_text, at_ms in reports:
        entry = out[device]
        entry["health_ms"] = max(entry["health_ms"] or at_ms, at_ms)
        try:
            payload = json.loads(payload_text)
        except ValueError:
            entry["sensors_faulty"].append({"stream": stream, "state": "unreadable report"})
            continue
        if not isinstance(payload, dict):
            entry["sensors_faulty"].append({"stream": stream, "state": "unreadable report"})
            continue
        if "state" in payload:
            if payload["state"] == "ok":
                entry["sensors_ok"] += 1
            elif payload["state"] != "new":  # "new": not read yet, neither ok nor faulty
                entry["sensors_faulty"].append(
                    {"stream": str(payload.get("sensor", stream)), "state": str(payload["state"])}
                )
        rejects = payload.get("rejects")
        if isinstance(rejects, dict):
            entry["reader_rejects"] += sum(v for v in rejects.values() if isinstance(v, int))
    return dict(out)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]
          ) -> list[dict[str, Any]]:  # fmt: skip
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _series(rows: Sequence[Mapping[str, Any]], key: str, value: str) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = defaultdict(list)
    for row in rows:
        if row[value] is not None:
            out[str(row[key])].append((int(row["bucket_ms"]), float(row[value])))
    return dict(out)


def scope_for(con: duckdb.DuckDBPyConnection, filters: Filters, sites: Sequence[str],
              now_ms: int) -> q.Scope | None:  # fmt: skip
    """The telemetry scope of the filters, or None when there is nothing to query."""
    chosen = (filters.site,) if filters.site else tuple(sites)
    if not chosen:
        return None
    span_s = RANGES_S[filters.range]
    if filters.range == "fit":
        lookback = (day_of(now_ms - FIT_LOOKBACK_DAYS * 86_400_000), day_of(now_ms))
        sql, params = q.bind_sites(q.TIME_BOUNDS_RECENT, chosen)
        first_ms, last_ms = con.execute(sql, [*params, *lookback]).fetchone() or (None, None)
        if first_ms is None:
            return None
        end_ms = int(last_ms) + 1
        start_ms = min(max(int(first_ms), end_ms - FIT_MAX_S * 1000), end_ms - MIN_SPAN_MS)
        return q.Scope(chosen, start_ms, end_ms, filters.device, day_of(start_ms), day_of(end_ms))
    if span_s is None:
        sql, params = q.bind_sites(q.TIME_BOUNDS, chosen)
        first_ms, last_ms = con.execute(sql, params).fetchone() or (None, None)
        if first_ms is None:
            return None
        return q.Scope(chosen, int(first_ms), int(last_ms) + 1, filters.device, *ALL_DATES)
    start_ms = now_ms - span_s * 1000
    return q.Scope(chosen, start_ms, now_ms, filters.device, day_of(start_ms), day_of(now_ms))


def build(con: duckdb.DuckDBPyConnection, filters: Filters, now_ms: int, settings: Settings,
          pin: Callable[[q.Scope], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """The dashboard document. `pin(scope)`, when given, runs once the scope is known and
    before the telemetry queries (the local lake copies the scope's rows into memory)."""
    cutoff_ms = now_ms - int(settings.offline_after_s * 1000)
    state = _rows(con, q.STATE_DEVICES, [cutoff_ms])
    sites = sorted({row["site"] for row in state if row["site"]})
    in_site = [row for row in state if not filters.site or row["site"] == filters.site]
    for row in in_site:
        row["age_s"] = (now_ms - row["last_seen_ms"]) / 1000
    shown = [row for row in in_site if not filters.device or row["device"] == filters.device]
    doc: dict[str, Any] = {
        "generated_ms": now_ms,
        "filters": asdict(filters),
        "ranges": list(RANGES_S),
        "settings": asdict(settings),
        "sites": sites,
        "devices": in_site,
        "offline": [row for row in shown if row["offline"]],
        "range": None,
        "fleet": {"devices_known": len(shown),
                  "devices_offline": sum(1 for row in shown if row["offline"])},
        "health": [], "drift": [], "anomalies": [], "anomaly_history": [], "rfid": [],
        "charts": {},
    }  # fmt: skip
    scope = scope_for(con, filters, sites, now_ms)
    start_ms, end_ms = (scope.start_ms, scope.end_ms) if scope else (now_ms, now_ms)
    bucket_ms = bucket_ms_for(max(end_ms - start_ms, 1), settings.target_points)
    doc["range"] = {"start_ms": start_ms, "end_ms": end_ms, "bucket_ms": bucket_ms}
    series: dict[str, dict[str, list[Point]]] = {
        "temperature": {},
        "supply": {},
        "alerts": {},
        "rfid": {},
    }
    if scope is not None:
        if pin is not None:
            pin(scope)
        _fill(con, scope, bucket_ms, settings, doc, series, state)
    titles = {
        "temperature": ("Temperature per device", "°C", False),
        "supply": ("Supply / battery bus voltage", "V", False),
        "alerts": (f"Alerts raised per {bucket_ms // 1000} s, by severity", "count", True),
        "rfid": (f"RFID events per {bucket_ms // 1000} s, by reader", "count", True),
    }
    for name, (title, unit, from_zero) in titles.items():
        doc["charts"][name] = {
            "series": {k: [list(p) for p in v] for k, v in sorted(series[name].items())},
            "svg": line_chart(
                name, title, unit, series[name], start_ms, end_ms, from_zero=from_zero
            ),  # fmt: skip
        }
    return doc


def _fill(con: duckdb.DuckDBPyConnection, scope: q.Scope, bucket_ms: int, settings: Settings,
          doc: dict[str, Any], series: dict[str, dict[str, list[Point]]],
          state: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    temperature = _rows(con, *q.bind(q.FIELD_SERIES, scope, [bucket_ms, "$.temperature_c"],
                                     [settings.temperature_stream]))  # fmt: skip
    series["temperature"] = _series(temperature, "device", "value")
    supply = _rows(con, *q.bind(q.FIELD_SERIES, scope, [bucket_ms, "$.bus_voltage_v"],
                                ["power/%"]))  # fmt: skip
    series["supply"] = _series(supply, "device", "value")
    doc["drift"] = drift(series["temperature"], settings.drift_min_window_s)

    fleet = _rows(con, *q.bind(q.FLEET_AVERAGES, scope, [settings.temperature_stream]))[0]
    hours = (scope.end_ms - scope.start_ms) / 3_600_000
    fleet["alerts_per_hour"] = (fleet["alerts"] or 0) / hours if hours > 0 else None
    doc["fleet"].update(fleet)

    activity = {r["device"]: r for r in _rows(con, *q.bind(q.DEVICE_ACTIVITY, scope))}
    reports = _rows(con, *q.bind(q.DEVICE_HEALTH, scope))
    health = health_of([(r["device"], r["stream"], r["payload"], r["at_ms"]) for r in reports])
    supply_rows = {r["device"]: r for r in _rows(con, *q.bind(q.SUPPLY_BY_DEVICE, scope))}
    offline = {r["device"]: r["offline"] for r in state}
    devices = sorted(set(activity) | set(health) | set(supply_rows))
    for device in devices:
        row: dict[str, Any] = {"device": device, "offline": offline.get(device)}
        row.update({k: v for k, v in activity.get(device, {}).items() if k != "device"})
        row.update(health.get(device, {"sensors_ok": 0, "sensors_faulty": [],
                                       "reader_rejects": 0, "health_ms": None}))  # fmt: skip
        row.update({k: v for k, v in supply_rows.get(device, {}).items() if k != "device"})
        row["battery_pct"], row["battery_estimated"] = battery_of(row, settings.battery_cells)
        doc["health"].append(row)

    alert_counts: dict[str, dict[int, float]] = defaultdict(dict)
    for r in _rows(con, *q.bind(q.ALERT_RATE, scope, [bucket_ms])):
        alert_counts[r["severity"]][int(r["bucket_ms"])] = r["alerts"]
    series["alerts"] = {
        sev: zero_filled(c, scope.start_ms, scope.end_ms, bucket_ms)
        for sev, c in alert_counts.items()
    }
    for r in _rows(con, *q.bind(q.OPEN_ALERTS, scope)):
        payload = _payload(r.pop("payload"))
        r.update({key: payload.get(key) for key in
                  ("severity", "condition", "detector", "reason", "value", "state")})  # fmt: skip
        doc["anomalies"].append(r)

    for r in _rows(con, *q.bind(q.ALERT_HISTORY, scope)):
        doc["anomaly_history"].append(alert_episode(r, scope.end_ms))

    rfid_counts: dict[str, dict[int, float]] = defaultdict(dict)
    for r in _rows(con, *q.bind(q.RFID_SERIES, scope, [bucket_ms])):
        rfid_counts[f"{r['device']} {r['stream']}"][int(r["bucket_ms"])] = r["reads"]
    series["rfid"] = {
        reader: zero_filled(c, scope.start_ms, scope.end_ms, bucket_ms)
        for reader, c in rfid_counts.items()
    }
    doc["rfid"] = _rows(con, *q.bind(q.RFID_READERS, scope))


def battery_of(row: Mapping[str, Any], cells: int | None) -> tuple[float | None, bool]:
    """(charge %, estimated?): what the device reports, else an estimate from the newest bus
    voltage when the supply is a battery of `cells` lithium-ion cells."""
    if row.get("last_battery_pct") is not None:
        return float(row["last_battery_pct"]), False
    if cells and row.get("last_bus_voltage_v") is not None:
        return round(battery.charge_pct(float(row["last_bus_voltage_v"]), cells), 1), True
    return None, False


def alert_episode(r: Mapping[str, Any], end_ms: int) -> dict[str, Any]:
    """One alert from raise to clear: when, how long (still open: until the range's end),
    and what it was about (from its first record; the clear's value and reason too)."""
    first, last = _payload(r["first_payload"]), _payload(r["last_payload"])
    raised = r["raised_ms"] if r["raised_ms"] is not None else first.get("raised_ms")
    cleared = r["cleared_ms"]
    return {
        "device": r["device"], "alert_id": r["alert_id"], "stream": r["stream"],
        "severity": first.get("severity") or last.get("severity"),
        "detector": first.get("detector") or last.get("detector"),
        "condition": first.get("condition") or last.get("condition"),
        "value": first.get("value"), "raised_ms": raised, "cleared_ms": cleared,
        "state": "cleared" if cleared is not None else "open",
        "duration_s": None if raised is None else
        ((cleared if cleared is not None else end_ms) - int(raised)) / 1000,
        "clear_reason": last.get("reason") if cleared is not None else None,
    }  # fmt: skip


def _payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
