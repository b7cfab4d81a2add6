"""Runs inside its own venv with thingsboard-gateway installed: put -> read -> ack N messages
through ThingsBoard gateway's SQLite event storage and print the figures as JSON."""

import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from threading import Event

from thingsboard_gateway.storage.sqlite.sqlite_event_storage import SQLiteEventStorage


def main() -> None:
    n = int(sys.argv[1])
    workdir = tempfile.mkdtemp(dir=sys.argv[2] if len(sys.argv) > 2 else None)
    logger = logging.getLogger("tb")
    logger.addHandler(logging.NullHandler())
    logger.trace = lambda *a, **k: None  # TB adds a TRACE level at start-up; not needed here
    storage = SQLiteEventStorage(
        {
            "data_file_path": workdir + "/",
            "max_read_records_count": 1000,
            "size_limit": 4096,
            "writing_batch_size": 1000,
        },
        logger,
        Event(),
    )
    msgs = [
        json.dumps(
            {
                "deviceName": "dev-001",
                "deviceType": "sensor",
                "telemetry": [{"ts": 1767225600000 + i, "values": {"temperature": 21.5}}],
                "i": i,
            }
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    refused = sum(1 for m in msgs if storage.put(m) is False)
    put_s = time.perf_counter() - t0
    # The storage commits from its RAM queue in a thread: wait until it is all on disk.
    while not storage.write_queue.empty():
        time.sleep(0.01)
    time.sleep(0.5)
    db_bytes = sum(
        os.path.getsize(os.path.join(workdir, f))
        for f in os.listdir(workdir)
        if f.startswith("data")
    )
    seen: Counter[int] = Counter()
    t1 = time.perf_counter()
    idle = 0
    while len(seen) < n - refused and idle < 200:
        pack = storage.get_event_pack()
        if not pack:
            idle += 1
            time.sleep(0.01)
            continue
        idle = 0
        for m in pack:
            seen[json.loads(m)["i"]] += 1
        storage.event_pack_processing_done()
    read_s = time.perf_counter() - t1
    storage.stop()
    print(
        json.dumps(
            {
                "messages": n,
                "message_bytes": sum(len(m) for m in msgs) / n,
                "put_s": put_s,
                "drain_wait_s": t1 - t0 - put_s,
                "read_ack_s": read_s,
                "total_s": time.perf_counter() - t0,
                "duplicates": sum(c - 1 for c in seen.values()),
                "lost": n - len(seen),
                "refused": refused,
                "db_bytes": db_bytes,
            }
        )
    )


if __name__ == "__main__":
    main()
