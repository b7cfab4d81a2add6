"""Lake benchmark: a day of a fleet through the local rules and lake, then queries.

    PYTHONPATH=. python bench/lake_ingest.py [--devices 50] [--hours 24] [--json out.json]

Per device and day: two environment streams every 10 s (raw), four aggregate streams every
minute, a health record every minute and ~200 RFID events. Every 5 minutes the uplink packs
what accumulated (at most the 128 KB MQTT payload per batch); the batches go through the local
rules engine to the in-memory telemetry stream and into the lake in groups of 500 (one Kinesis
GetRecords).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import emit
from cloud.lake.query import query
from cloud.lake.store import Lake
from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine
from cloud.rules.handlers import MemoryStream, memory_handlers
from components.core import batch, topics
from components.core.clock import ManualClock
from components.core.envelope import Record
from components.core.limits import KINESIS_PUT_RECORDS_MAX, MQTT_MAX_PAYLOAD_BYTES

DAY_START_MS = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000
UPLINK_KINDS = (topics.RAW, topics.AGGREGATE, topics.HEALTH, topics.EVENT)
UPLINK_WINDOW_MS = 300_000  # the uplink sends what accumulated every 5 minutes
INGEST_GROUP = 500  # batches per ingest call: one Kinesis GetRecords worth
SITES = ("plant-1", "plant-2", "plant-3")


def device_day(device: str, hours: int, rng: random.Random) -> dict[str, list[Record]]:
    """Records per uplink kind for one device; sensor noise at the chips' resolution, so the
    batches compress like real readings rather than like constants."""
    seconds = hours * 3600
    out: dict[str, list[Record]] = {kind: [] for kind in UPLINK_KINDS}

    def add(kind: str, stream: str, cls: str, period_s: int, payload: Any) -> None:
        for n, t in enumerate(range(0, seconds, period_s)):
            wall_ms = DAY_START_MS + t * 1000 + rng.randint(0, 40)  # sampling jitter
            record = Record(device, stream, n + 1, cls, t * 10**9, wall_ms, True, payload(n))
            out[kind].append(record)

    def noisy(mean: float, sigma: float, places: int) -> float:
        return round(rng.gauss(mean, sigma), places)

    add(topics.RAW, "env/bme280@0x76", "raw", 10, lambda n: {
        "temperature_c": noisy(22, 0.3, 2), "pressure_pa": round(rng.gauss(101325, 12)),
        "humidity_pct": noisy(41, 0.8, 2)})  # fmt: skip
    add(topics.RAW, "env/sht3x@0x44", "raw", 10, lambda n: {
        "temperature_c": noisy(22.2, 0.2, 2), "humidity_pct": noisy(40.5, 0.6, 2)})  # fmt: skip
    for name in ("temperature_c", "humidity_pct", "vibration_g", "current_a"):
        add(topics.AGGREGATE, f"agg/{name}", "aggregate", 60, lambda n: {
            "min": noisy(1.5, 0.1, 3), "max": noisy(2.5, 0.1, 3), "mean": noisy(2.0, 0.05, 3),
            "count": 60})  # fmt: skip
    add(topics.HEALTH, "sys/health", "health", 60, lambda n: {
        "cpu_temp_c": noisy(48.5, 1.5, 1), "backlog_records": rng.randint(0, 5),
        "disk_free_bytes": 10**9 - 4096 * n})  # fmt: skip
    add(topics.EVENT, "rfid/rdm6300@ttyS0", "event", max(1, seconds // 200), lambda n: {
        "tag": f"{rng.randint(0, 99999):010d}",
        "presence": "arrive" if n % 2 else "depart"})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    rng = random.Random(2026)
    stream = MemoryStream()
    engine = RulesEngine(d.RULES, memory_handlers(kinesis=stream))
    clock = ManualClock(wall_ms=DAY_START_MS + args.hours * 3_600_000)
    t0 = time.perf_counter()
    total_records = 0
    payload_bytes = 0
    rules_s = 0.0
    for i in range(args.devices):
        device, site = f"dev-{i:03d}", SITES[i % len(SITES)]
        for kind, records in device_day(device, args.hours, rng).items():
            total_records += len(records)
            windows: dict[int, list[Record]] = {}
            for record in records:
                windows.setdefault(record.wall_ms // UPLINK_WINDOW_MS, []).append(record)
            for window in windows.values():
                packed = batch.pack(window, site=site, max_bytes=MQTT_MAX_PAYLOAD_BYTES)
                for data, _ in packed:
                    payload_bytes += len(data)
                    t_rules = time.perf_counter()
                    engine.publish(topics.device_topic(site, device, kind), data,
                                   clientid=device, timestamp_ms=clock.wall_ms())  # fmt: skip
                    rules_s += time.perf_counter() - t_rules
    encode_s = time.perf_counter() - t0
    batches = [data for _, data in stream.records]

    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(folder, clock=clock)
        t0 = time.perf_counter()
        for start in range(0, len(batches), INGEST_GROUP):
            lake.ingest(batches[start : start + INGEST_GROUP])
        ingest_s = time.perf_counter() - t0
        files_before = len(list(Path(folder).rglob("*.parquet")))
        t0 = time.perf_counter()
        lake.compact()
        compact_s = time.perf_counter() - t0
        files_after = len(list(Path(folder).rglob("*.parquet")))
        t0 = time.perf_counter()
        redelivered = lake.ingest(batches[:KINESIS_PUT_RECORDS_MAX])
        dedup_s = time.perf_counter() - t0
        queries = {
            "count per site": "SELECT site, count(*) FROM telemetry GROUP BY site",
            "hourly mean temperature per device": (
                "SELECT device, event_ms // 3600000 AS hour, "
                "avg(CAST(json_extract(payload, '$.temperature_c') AS DOUBLE)) "
                "FROM telemetry WHERE stream = 'env/bme280@0x76' GROUP BY ALL"
            ),
            "last seq per device and stream": (
                "SELECT device, stream, max(seq) FROM telemetry GROUP BY ALL"
            ),
        }
        query_s = {}
        for name, sql in queries.items():
            t0 = time.perf_counter()
            query(lake, sql)
            query_s[name] = time.perf_counter() - t0
        rows = query(lake, "SELECT count(*) FROM telemetry")[1][0][0]
        lake_bytes = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet"))
        lake.close()

    assert rows == total_records, (rows, total_records)
    figures = [
        ("records in a fleet day", total_records, "records", "", ""),
        ("uplink batches", len(batches), "batches", "", ""),
        (
            "uplink bytes",
            payload_bytes,
            "bytes",
            "",
            f"{payload_bytes / total_records:.1f} B/record",
        ),
        ("batch encoding (device side)", round(encode_s - rules_s, 2), "s", "", ""),
        ("rules engine", round(len(stream.records) / rules_s), "messages/s", "", ""),
        ("lake ingest", round(total_records / ingest_s), "rows/s", "", ""),
        ("lake ingest time", round(ingest_s, 2), "s", "", ""),
        ("files before compaction", files_before, "files", "", ""),
        ("files after compaction", files_after, "files", "", ""),
        ("compaction", round(compact_s, 2), "s", "", ""),
        (
            f"redelivery of {redelivered.batches} batches",
            round(dedup_s, 2),
            "s",
            f"{redelivered.duplicates} dropped",
            "",
        ),  # fmt: skip
        ("Parquet size", lake_bytes, "bytes", "", f"{lake_bytes / total_records:.1f} B/row"),
        *(
            (f"query: {name}", round(seconds * 1000, 1), "ms", "", "")
            for name, seconds in query_s.items()
        ),  # fmt: skip
    ]
    emit(
        "lake_ingest",
        [
            {"figure": n, "value": v, "unit": u, "note": " ".join(x for x in (p, r) if x)}
            for n, v, u, p, r in figures
        ]
        + [{"figure": "fleet", "value": f"{args.devices} devices, {args.hours} h", "unit": ""}],
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    dict(zip(("figure", "value", "unit", "note", "ratio"), f, strict=True))
                    for f in figures
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
