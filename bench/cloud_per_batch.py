"""CPU per batch of the load-mode cloud side, per part, without a broker.

    PYTHONPATH=. python bench/cloud_per_batch.py [--devices 1000] [--seconds 5] [--profile]

Load-mode batches (edge_sim/load_client.py: five chips, one reading each) of `--devices`
devices for `--seconds` seconds go through the parts the cloud process runs per batch: the
rules engine (`RulesEngine.publish`, the Kinesis action into a list) and the lake (`Lake.ingest`
once per second of deliveries, as the 1 s lake buffer does). Prints process CPU per batch per
part; `--profile` prints the top of a cProfile of both.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from cloud.lake.store import Lake
from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine
from cloud.rules.handlers import MemoryBroker, MemoryBucket, MemoryTable, MemoryTopic
from components.core import topics
from components.core.clock import ManualClock
from edge_sim.load_client import ReadingSynth

START_MS = 1_795_000_000_000
SITE = "site-load"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    synths = [ReadingSynth(f"load-{i:05d}", i) for i in range(args.devices)]
    seconds = [
        [(s.thing, s.batch(k, START_MS + k * 1000, SITE)) for s in synths]
        for k in range(1, args.seconds + 1)
    ]
    n = args.devices * args.seconds
    delivered: list[bytes] = []
    engine = RulesEngine(d.RULES, {
        d.KINESIS: lambda call: delivered.append(call.payload), d.DYNAMODB_V2:
        MemoryTable(d.STATE_PARTITION_KEY), d.SNS: MemoryTopic(), d.S3: MemoryBucket(),
        d.REPUBLISH: MemoryBroker()})  # fmt: skip
    clock = ManualClock(wall_ms=START_MS)
    profiler = cProfile.Profile() if args.profile else None
    rules_s = lake_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp), clock=clock)
        if profiler:
            profiler.enable()
        for k, second in enumerate(seconds, 1):
            clock.set_wall(START_MS + k * 1000)
            t0 = time.process_time()
            for thing, data in second:
                engine.publish(
                    topics.device_topic(SITE, thing, topics.RAW),
                    data,
                    clientid=thing,
                    timestamp_ms=START_MS + k * 1000,
                )
            t1 = time.process_time()
            pending, delivered[:] = list(delivered), []
            result = lake.ingest(pending)
            t2 = time.process_time()
            assert result.rows_written == 5 * len(second), result
            rules_s += t1 - t0
            lake_s += t2 - t1
        if profiler:
            profiler.disable()
        lake.close()
    print(
        f"batches {n}: rules {rules_s / n * 1e3:.3f} ms/batch, lake {lake_s / n * 1e3:.3f} "
        f"ms/batch, total {(rules_s + lake_s) / n * 1e3:.3f} ms/batch"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
