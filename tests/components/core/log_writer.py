"""A writer process for the log's crash tests: appends batches forever, reporting each commit.

Usage: python log_writer.py DB RUN STREAMS BATCH [records|batch]
`records` (default): append_records, each record to the next of STREAMS streams in turn.
`batch`: append_batch, every batch to one stream (the one-run path), turn by turn.
Prints "RUN I" after every append that returned: readings (RUN, 0..I) are committed.
"""

import sys

from components.core.log import Log, NewRecord


def main() -> None:
    db, run, streams, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "records"
    log = Log.open(db, device="dev-kill", budget_bytes=1 << 30, free_floor_bytes=0)
    i = 0
    n = 0
    out = sys.stdout
    while True:
        if mode == "batch":
            payloads = [{"run": run, "i": i + k} for k in range(batch)]
            log.append_batch(f"env/s{n % streams}@0x76", "raw", payloads)
            i += batch
            n += 1
        else:
            recs = []
            for _ in range(batch):
                recs.append(NewRecord(f"env/s{i % streams}@0x76", "raw", {"run": run, "i": i}))
                i += 1
            log.append_records(recs)
        out.write(f"{run} {i - 1}\n")
        out.flush()


if __name__ == "__main__":
    main()
