"""Rules engine throughput: alerts (JSON, SELECT *, ... WHERE, three actions) and uplink
batches (binary, SELECT *) through floorline's rules with in-memory actions.

    PYTHONPATH=. python bench/rules_engine.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.report import emit
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
    emit("rules_engine", [
        {"figure": name, "value": rate, "unit": "messages/s",
         "peer": f"{MQTT_PUBLISHES_PER_S}/s per device", "ratio": rate / MQTT_PUBLISHES_PER_S,
         "note": "ratio: devices at full IoT Core rate one engine keeps up with"}
        for name, rate in rows
    ])  # fmt: skip


if __name__ == "__main__":
    main()
