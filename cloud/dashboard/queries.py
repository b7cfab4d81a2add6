"""Every query the dashboard runs, as plain SQL that DuckDB (local lake) and Athena (the Glue
table over S3) both accept.

How the text stays portable:
- JSON payload fields are read with Athena's `json_extract_scalar(payload, '$.key')`; the local
  connection defines a DuckDB macro of that name over `json_extract_string` (snapshot.py).
  Difference: on an object or array Athena returns NULL where DuckDB returns the JSON text; the
  queries only read scalar keys.
- Numbers come from `TRY_CAST(... AS DOUBLE)` (both engines: NULL when a key is missing or not
  numeric, so a payload without the key never fails a query).
- Time buckets are `event_ms - event_ms % ?` (integer arithmetic in both; `/` would be integer
  division in Athena but floating point in DuckDB).
- Parameters are positional `?` in both (Athena: `ExecutionParameters` of StartQueryExecution,
  each given as an SQL literal, e.g. `'site-1'`, `1795334613000`).
- Every telemetry query constrains `site` to an explicit list and `dt` to a date range: the
  Glue table projects `site` as *injected* (Athena refuses a query without static site values)
  and `dt` as a date range (without it Athena lists every day since the projection start).

Where they differ:
- `latest_state` is the DynamoDB table the `floorline_device_state` rule writes. Locally it is a
  view over the lake's state (DuckDB); in AWS the same rows come from a DynamoDB Scan (or
  Athena's DynamoDB connector, where `STATE_DEVICES` runs unchanged against that catalog).
- Athena bills by bytes scanned: the dashboard's time range picks the `dt` partitions, and
  `device` filters prune row groups through Parquet statistics only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

# An alert record that raises (not one that clears); alerts without a state count as raised.
_RAISED: Final = "coalesce(json_extract_scalar(payload, '$.state'), 'raised') = 'raised'"
# The WHERE clause every telemetry query shares; `{sites}` is one `?` per site, `{device}` is
# empty or ` AND device = ?`.
_WHERE: Final = (
    "site IN ({sites}) AND dt BETWEEN ? AND ? AND event_ms >= ? AND event_ms < ?{device}"
)

# Devices known to the state table (which sites and devices exist, when each was last seen).
STATE_DEVICES: Final = """
SELECT device, site, last_seen_ms,
       CASE WHEN last_seen_ms < ? THEN true ELSE false END AS offline
FROM latest_state
ORDER BY site, device
"""

# Oldest and newest event in the chosen sites (the range "all").
TIME_BOUNDS: Final = """
SELECT min(event_ms) AS first_ms, max(event_ms) AS last_ms
FROM telemetry
WHERE site IN ({sites})
"""

# Oldest and newest event in the chosen sites over recent days (the range "fit"): parameters
# the sites, then the first and last day.
TIME_BOUNDS_RECENT: Final = """
SELECT min(event_ms) AS first_ms, max(event_ms) AS last_ms
FROM telemetry
WHERE site IN ({sites}) AND dt BETWEEN ? AND ?
"""

# Per device: records, last event and how many alerts were raised.
DEVICE_ACTIVITY: Final = """
SELECT device, site, count(*) AS records, max(event_ms) AS last_event_ms,
       sum(CASE WHEN cls = 'alert' AND {raised} THEN 1 ELSE 0 END) AS alerts
FROM telemetry
WHERE {where}
GROUP BY device, site
ORDER BY device
"""

# The newest health report of each (device, health stream): sensor state or reader counters.
DEVICE_HEALTH: Final = """
SELECT device, stream, max_by(payload, event_ms) AS payload, max(event_ms) AS at_ms
FROM telemetry
WHERE {where} AND cls = 'health'
GROUP BY device, stream
ORDER BY device, stream
"""

# Mean of one numeric payload field per device and time bucket, over streams LIKE a pattern.
# Parameters: bucket_ms, field path ('$.temperature_c'), the WHERE parameters, stream pattern.
# (Grouping by position: the bucket expression holds a parameter, which Athena and DuckDB
# would not match between SELECT and GROUP BY.)
FIELD_SERIES: Final = """
SELECT device, event_ms - event_ms % ? AS bucket_ms,
       avg(TRY_CAST(json_extract_scalar(payload, ?) AS DOUBLE)) AS value
FROM telemetry
WHERE {where} AND cls = 'raw' AND stream LIKE ?
GROUP BY 1, 2
ORDER BY device, bucket_ms
"""

# Fleet-wide means over the range. Parameters: the temperature stream pattern (the sensor the
# drift chart shows), then the WHERE parameters.
FLEET_AVERAGES: Final = """
SELECT count(DISTINCT device) AS devices, count(*) AS records,
       avg(CASE WHEN stream LIKE ? THEN
           TRY_CAST(json_extract_scalar(payload, '$.temperature_c') AS DOUBLE) END)
           AS temperature_c,
       avg(CASE WHEN stream LIKE 'env/%' THEN
           TRY_CAST(json_extract_scalar(payload, '$.humidity_pct') AS DOUBLE) END)
           AS humidity_pct,
       avg(CASE WHEN stream LIKE 'power/%' THEN
           TRY_CAST(json_extract_scalar(payload, '$.bus_voltage_v') AS DOUBLE) END)
           AS bus_voltage_v,
       avg(CASE WHEN stream LIKE 'power/%' THEN
           TRY_CAST(json_extract_scalar(payload, '$.power_w') AS DOUBLE) END) AS power_w,
       sum(CASE WHEN cls = 'alert' AND {raised} THEN 1 ELSE 0 END) AS alerts
FROM telemetry
WHERE {where}
"""

# Power supply / battery per device: the newest and the lowest bus voltage in the range, and the
# battery percentage where the power stream carries one.
SUPPLY_BY_DEVICE: Final = """
SELECT device,
       max_by(TRY_CAST(json_extract_scalar(payload, '$.bus_voltage_v') AS DOUBLE), event_ms)
           AS last_bus_voltage_v,
       min(TRY_CAST(json_extract_scalar(payload, '$.bus_voltage_v') AS DOUBLE))
           AS min_bus_voltage_v,
       max_by(TRY_CAST(json_extract_scalar(payload, '$.battery_pct') AS DOUBLE), event_ms)
           AS last_battery_pct,
       max_by(TRY_CAST(json_extract_scalar(payload, '$.power_w') AS DOUBLE), event_ms)
           AS last_power_w
FROM telemetry
WHERE {where} AND cls = 'raw' AND stream LIKE 'power/%'
GROUP BY device
ORDER BY device
"""

# Alerts raised per time bucket and severity. Parameters: bucket_ms, then the WHERE parameters.
ALERT_RATE: Final = """
SELECT event_ms - event_ms % ? AS bucket_ms,
       coalesce(json_extract_scalar(payload, '$.severity'), 'unknown') AS severity,
       count(*) AS alerts
FROM telemetry
WHERE {where} AND cls = 'alert'
  AND {raised}
GROUP BY 1, 2
ORDER BY bucket_ms, severity
"""

# Anomaly flags: alerts whose newest record in the range is not a clear (still open).
OPEN_ALERTS: Final = """
SELECT device, coalesce(json_extract_scalar(payload, '$.alert_id'), stream) AS alert_id,
       max_by(stream, event_ms) AS stream, max_by(payload, event_ms) AS payload,
       max(event_ms) AS at_ms
FROM telemetry
WHERE {where} AND cls = 'alert'
GROUP BY 1, 2
HAVING coalesce(json_extract_scalar(max_by(payload, event_ms), '$.state'), 'raised') <> 'cleared'
ORDER BY at_ms DESC
"""

# Anomaly history: every alert with a record in the range, raised and cleared (each raise has
# its own alert_id), newest first.
ALERT_HISTORY: Final = """
SELECT device, coalesce(json_extract_scalar(payload, '$.alert_id'), stream) AS alert_id,
       max_by(stream, event_ms) AS stream,
       min(CASE WHEN {raised} THEN event_ms END) AS raised_ms,
       max(CASE WHEN json_extract_scalar(payload, '$.state') = 'cleared' THEN event_ms END)
           AS cleared_ms,
       min_by(payload, event_ms) AS first_payload,
       max_by(payload, event_ms) AS last_payload
FROM telemetry
WHERE {where} AND cls = 'alert'
GROUP BY 1, 2
ORDER BY coalesce(min(CASE WHEN {raised} THEN event_ms END), max(event_ms)) DESC
"""

# RFID events per reader (device + stream) and time bucket. Parameters: bucket_ms, WHERE.
RFID_SERIES: Final = """
SELECT device, stream, event_ms - event_ms % ? AS bucket_ms, count(*) AS reads
FROM telemetry
WHERE {where} AND cls = 'event' AND stream LIKE 'rfid/%'
GROUP BY 1, 2, 3
ORDER BY device, stream, bucket_ms
"""

# RFID totals per reader over the range.
RFID_READERS: Final = """
SELECT device, stream, count(*) AS events,
       sum(CASE WHEN json_extract_scalar(payload, '$.event') = 'arrive' THEN 1 ELSE 0 END)
           AS arrivals,
       count(DISTINCT json_extract_scalar(payload, '$.tag_id')) AS distinct_tags,
       max(event_ms) AS last_ms
FROM telemetry
WHERE {where} AND cls = 'event' AND stream LIKE 'rfid/%'
GROUP BY device, stream
ORDER BY device, stream
"""


@dataclass(frozen=True)
class Scope:
    """What a telemetry query covers: sites (never empty), optional device, [start, end) ms."""

    sites: tuple[str, ...]
    start_ms: int
    end_ms: int
    device: str | None = None
    first_dt: str = ""
    last_dt: str = ""

    def where(self) -> tuple[str, list[Any]]:
        """The shared WHERE clause and its parameters, in order."""
        clause = _WHERE.format(
            sites=", ".join("?" for _ in self.sites),
            device=" AND device = ?" if self.device else "",
        )
        params: list[Any] = [*self.sites, self.first_dt, self.last_dt, self.start_ms, self.end_ms]
        if self.device:
            params.append(self.device)
        return clause, params


def bind(template: str, scope: Scope, before: Sequence[Any] = (), after: Sequence[Any] = ()
         ) -> tuple[str, list[Any]]:  # fmt: skip
    """(sql, parameters) of a telemetry query template: `before` the WHERE parameters, `after`
    them, as the template's placeholders are ordered."""
    clause, params = scope.where()
    return template.format(where=clause, raised=_RAISED), [*before, *params, *after]


def bind_sites(template: str, sites: Sequence[str]) -> tuple[str, list[Any]]:
    return template.format(sites=", ".join("?" for _ in sites)), list(sites)
