"""Lake benchmark: a day of a fleet through the local rules and lake, then queries.

    PYTHONPATH=. python bench/lake_ingest.py [--devices 50] [--hours 24] [--json out.json]

Per device and day: two environment streams every 10 s (raw), four aggregate streams every
minute, a health record every minute and ~200 RFID events. Batches are packed as the uplink
packs them (at most the 128 KB MQTT payload), published through the local rules engine to the
in-memory telemetry stream, and ingested in groups of 500 (one Kinesis GetRecords).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cloud.lake.query import query
from cloud.lake.store import Lake
from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine
from cloud.rules.handlers import MemoryBroker, MemoryBucket, MemoryStream, MemoryTable, MemoryTopic
from components.core import batch, topics
from components.core.clock import ManualClock
from components.core.envelope import Record
from components.core.limits import KINESIS_PUT_RECORDS_MAX, MQTT_MAX_PAYLOAD_BYTES

DAY_START_MS = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000
SITES = ("plant-1", "plant-2", "plant-3")


def device_day(device: str, hours: int) -> dict[str, list[Record]]:
    """Records per uplink kind for one device."""
    seconds = hours * 3600
    out: dict[str, list[Record]] = {topics.RAW: [], topics.AGGREGATE: [], topics.HEALTH: [],
                                     topics.EVENT: []}  # fmt: skip

    def add(kind: str, stream: str, cls: str, period_s: int, payload: Any) -> None:
        for n, t in enumerate(range(0, seconds, period_s)):
            out[kind].append(
                Record(device, stream, n + 1, cls, t * 10**9, DAY_START_MS + t * 1000, True,
                       payload(n))
            )  # fmt: skip

    add(topics.RAW, "env/bme280@0x76", "raw", 10,
        lambda n: {"temperature_c": round(21 + (n % 50) / 10, 2), "pressure_pa": 101325 + n % 7,
                   "humidity_pct": round(40 + (n % 30) / 10, 1)})  # fmt: skip
    add(topics.RAW, "env/sht3x@0x44", "raw", 10,
        lambda n: {"temperature_c": round(21.3 + (n % 40) / 10, 2),
                   "humidity_pct": round(41 + (n % 20) / 10, 1)})  # fmt: skip
    for name in ("temperature_c", "humidity_pct", "vibration_g", "current_a"):
        add(
            topics.AGGREGATE,
            f"agg/{name}",
            "aggregate",
            60,
            lambda n: {"min": 1.5, "max": round(2 + n % 9 / 10, 1), "mean": 1.7, "count": 60},
        )
    add(
        topics.HEALTH,
        "sys/health",
        "health",
        60,
        lambda n: {"cpu_temp_c": 48.5, "backlog_records": n % 5, "disk_free_bytes": 10**9},
    )
    add(
        topics.EVENT,
        "rfid/rdm6300@ttyS0",
        "event",
        max(1, seconds // 200),
        lambda n: {"tag": f"{n % 13:010d}", "presence": "arrive" if n % 2 else "depart"},
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    stream = MemoryStream()
    engine = RulesEngine(
        d.RULES,
        {d.KINESIS: stream, d.DYNAMODB_V2: MemoryTable(d.STATE_PARTITION_KEY),
         d.SNS: MemoryTopic(), d.REPUBLISH: MemoryBroker(), d.S3: MemoryBucket()},
    )  # fmt: skip
    clock = ManualClock(wall_ms=DAY_START_MS + args.hours * 3_600_000)
    t0 = time.perf_counter()
    total_records = 0
    payload_bytes = 0
    for i in range(args.devices):
        device, site = f"dev-{i:03d}", SITES[i % len(SITES)]
        for kind, records in device_day(device, args.hours).items():
            total_records += len(records)
            for data, _ in batch.pack(records, site=site, max_bytes=MQTT_MAX_PAYLOAD_BYTES):
                payload_bytes += len(data)
                engine.publish(topics.device_topic(site, device, kind), data,
                               clientid=device, timestamp_ms=clock.wall_ms())  # fmt: skip
    encode_s = time.perf_counter() - t0
    batches = [data for _, data in stream.records]

    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(folder, clock=clock)
        t0 = time.perf_counter()
        for start in range(0, len(batches), KINESIS_PUT_RECORDS_MAX):
            lake.ingest(batches[start : start + KINESIS_PUT_RECORDS_MAX])
        ingest_s = time.perf_counter() - t0
        files_before = len(list(Path(folder).rglob("*.parquet")))
        t0 = time.perf_counter()
        lake.compact()
        compact_s = time.perf_counter() - t0
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
        ("uplink bytes", payload_bytes, "bytes", "", ""),
        ("encode + rules", round(encode_s, 2), "s", "", ""),
        ("lake ingest", round(total_records / ingest_s), "rows/s", "", ""),
        ("lake ingest time", round(ingest_s, 2), "s", "", ""),
        ("files before compaction", files_before, "files", "", ""),
        ("compaction", round(compact_s, 2), "s", "", ""),
        (
            "redelivery of 500 batches (all duplicates)",
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
    table = Table("figure", "value", "unit", "note", "ratio")
    for name, value, unit, note, ratio in figures:
        table.add_row(name, str(value), unit, note, ratio)
    console = Console()
    console.print(table)
    machine = f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"
    console.print(f"machine: {machine}; {args.devices} devices, {args.hours} h")
    if args.json:
        args.json.write_text(
            json.dumps(
                [{"figure": n, "value": v, "unit": u, "peer_or_limit": p, "ratio": r,
                  "machine": machine} for n, v, u, p, r in figures],
                indent=1,
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()
