"""Rules engine throughput: alerts (JSON, SELECT *, ... WHERE, three actions) and uplink
batches (binary, SELECT *) through floorline's rules with in-memory actions.

    PYTHONPATH=. python bench/rules_engine.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from rich.console import Console
from rich.table import Table

from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine
from cloud.rules.handlers import MemoryBroker, MemoryBucket, MemoryStream, MemoryTable, MemoryTopic
from components.core import batch, topics
from components.core.envelope import Record
from components.core.limits import MQTT_PUBLISHES_PER_S


def _engine() -> RulesEngine:
    handlers = {
        d.KINESIS: MemoryStream(),
        d.DYNAMODB_V2: MemoryTable(d.STATE_PARTITION_KEY),
        d.SNS: MemoryTopic(),
        d.REPUBLISH: MemoryBroker(),
        d.S3: MemoryBucket(),
    }
    return RulesEngine(d.RULES, handlers, newuuid=lambda: "00000000-0000-4000-8000-000000000000")


def _rate(engine: RulesEngine, topic: str, payloads: list[bytes]) -> float:
    start = time.perf_counter()
    for n, payload in enumerate(payloads):
        engine.publish(topic, payload, clientid="dev-001", timestamp_ms=1_795_000_000_000 + n)
    return len(payloads) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    alerts = [
        json.dumps(
            Record("dev-001", "vib/adxl345@0x53", n + 1, "alert", n, 1_795_000_000_000 + n, True,
                   {"detector": "rms", "value_g": 1.7 + n % 10 / 100, "threshold_g": 1.2})
            .to_dict(), separators=(",", ":"),
        ).encode()
        for n in range(args.messages)
    ]  # fmt: skip
    readings = [
        Record("dev-001", "env/bme280@0x76", n + 1, "raw", n, 1_795_000_000_000 + 10_000 * n,
               True, {"temperature_c": 21.5 + n % 7 / 10, "humidity_pct": 40.0 + n % 5})
        for n in range(30 * 20)
    ]  # fmt: skip
    one_batch = batch.encode(readings[:30], site="plant-7")
    rows = [
        ("alert rule (JSON, 3 actions)",
         _rate(_engine(), topics.device_topic("plant-7", "dev-001", topics.ALERT), alerts)),
        ("batch rule (binary, SELECT *)",
         _rate(_engine(), topics.device_topic("plant-7", "dev-001", topics.RAW),
               [one_batch] * args.messages)),
    ]  # fmt: skip
    table = Table("figure", "value", "unit", "limit", "ratio")
    for name, rate in rows:
        table.add_row(name, f"{rate:,.0f}", "messages/s", f"{MQTT_PUBLISHES_PER_S}/s per device",
                      f"{rate / MQTT_PUBLISHES_PER_S:,.0f} devices at full rate")  # fmt: skip
    console = Console()
    console.print(table)
    console.print(f"machine: {platform.machine()} {os.cpu_count()} cpu, "
                  f"Python {platform.python_version()}")  # fmt: skip


if __name__ == "__main__":
    main()
