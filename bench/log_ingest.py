"""The durable log against its peer and against the disk's physical limit, in one run.

    python -m bench.log_ingest [--messages 200000] [--no-peer]

(a) put -> read -> ack of N small JSON messages through floorline's log and through
    thingsboard-gateway's SQLite storage (installed in its own venv under bench/.peers/),
    counting duplicates and losses for both;
(b) raw sqlite3 on the same disk, synchronous=FULL: 100-row transactions and single-row
    commits, with floorline's ratio to each;
(c) bytes on disk per scalar reading.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections import Counter
from pathlib import Path

from bench.report import emit
from components.core.log import Log

HERE = Path(__file__).parent
TB_VERSION = "3.8.5"
W0 = 1_767_225_600_000


def _tb_python() -> Path:
    env = HERE / ".peers" / f"tb-{TB_VERSION}"
    py = env / "bin" / "python"
    if not (env / ".ok").exists():
        venv.create(env, with_pip=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", f"thingsboard-gateway=={TB_VERSION}"],
            check=True,
        )
        (env / ".ok").touch()
    return py


def peer(n: int, workdir: str) -> dict:
    out = subprocess.run(
        [str(_tb_python()), str(HERE / "peers" / "tb_storage.py"), str(n), workdir],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def floorline(n: int, workdir: str, batch: int = 1000) -> dict:
    """Batches of 1000, the peer's own commit size (its writing_batch_size); floorline's
    append returns only after its batch is durably committed, the peer's put before."""
    path = Path(tempfile.mkdtemp(dir=workdir)) / "log.db"
    lg = Log.open(path, device="dev-001", budget_bytes=4 << 30, free_floor_bytes=0)
    lg.register_consumer("bench", classes=["raw"])
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        lg.append_batch(
            "env/tmp@0x76",
            "raw",
            [{"temperature": 21.5, "i": i} for i in range(start, min(n, start + batch))],
            wall_ms=W0 + start,
        )
    put_s = time.perf_counter() - t0
    put_cpu_s = time.process_time() - cpu0
    lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db_bytes = path.stat().st_size
    seen: Counter[int] = Counter()
    cpu1 = time.process_time()
    t1 = time.perf_counter()
    while True:
        b = lg.read("bench", limit=1000)
        if not b:
            break
        for r in b:
            seen[r.payload["i"]] += 1
        lg.ack("bench", b)
    read_s = time.perf_counter() - t1
    read_cpu_s = time.process_time() - cpu1
    lg.close()
    return {
        "put_s": put_s,
        "cpu_s": put_cpu_s + read_cpu_s,
        "read_ack_s": read_s,
        "total_s": put_s + read_s,
        "duplicates": sum(c - 1 for c in seen.values()),
        "lost": n - len(seen),
        "db_bytes": db_bytes,
    }


def bytes_per_scalar(workdir: str, n: int = 100_000) -> float:
    path = Path(tempfile.mkdtemp(dir=workdir)) / "log.db"
    lg = Log.open(path, device="dev-001", budget_bytes=4 << 30, free_floor_bytes=0)
    for _start in range(0, n, 1000):
        lg.append_batch(
            "env/bme280@0x76",
            "raw",
            [{"temperature_c": round(21 + (i % 97) / 100, 2)} for i in range(1000)],
        )
    lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    lg.close()
    return path.stat().st_size / n


class _RawSqlite:
    """The physical limit: bare sqlite3 inserts on the same disk, synchronous=FULL, WAL."""

    def __init__(self, workdir: str) -> None:
        path = Path(tempfile.mkdtemp(dir=workdir)) / "raw.db"
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, msg TEXT)")
        self.rows = [('{"temperature":21.5,"i":1}',)] * 100

    def batch(self) -> int:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO t(msg) VALUES (?)", self.rows)
        self.conn.execute("COMMIT")
        return 100

    def single(self) -> int:
        self.conn.execute("INSERT INTO t(msg) VALUES (?)", self.rows[0])
        return 1


class _Floorline:
    def __init__(self, workdir: str) -> None:
        path = Path(tempfile.mkdtemp(dir=workdir)) / "log.db"
        self.log = Log.open(path, device="dev-001", budget_bytes=4 << 30, free_floor_bytes=0)
        self.payloads = [{"temperature": 21.5, "i": 1}] * 100

    def batch(self) -> int:
        self.log.append_batch("env/a@1", "raw", self.payloads)
        return 100

    def single(self) -> int:
        self.log.append("env/b@1", "raw", self.payloads[0])
        return 1


def _rate(fn, seconds: float) -> tuple[float, float]:
    """(rows per second of wall time, CPU seconds of this process per row)."""
    t0, cpu0, done = time.perf_counter(), time.process_time(), 0
    while (elapsed := time.perf_counter() - t0) < seconds:
        done += fn()
    return done / elapsed, (time.process_time() - cpu0) / done


def side_by_side(workdir: str, rounds: int = 6, seconds: float = 0.5) -> dict[str, float]:
    """Alternate short rounds of both sides so disk and CPU noise hit them alike; medians.
    CPU per row (`*_cpu`) is the steadier figure on a busy machine."""
    raw, fl = _RawSqlite(workdir), _Floorline(workdir)
    out: dict[str, list[float]] = {}
    for _ in range(rounds):
        for key, fn in (
            ("raw_b", raw.batch),
            ("fl_b", fl.batch),
            ("raw_s", raw.single),
            ("fl_s", fl.single),
        ):
            rate, cpu = _rate(fn, seconds)
            out.setdefault(key, []).append(rate)
            out.setdefault(f"{key}_cpu", []).append(cpu)
    fl.log.close()
    return {k: statistics.median(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--no-peer", action="store_true", help="skip thingsboard-gateway")
    ap.add_argument("--dir", default=None, help="where to put the files (default: a temp dir)")
    args = ap.parse_args(argv)
    workdir = args.dir or tempfile.mkdtemp(prefix="floorline-bench-")
    os.makedirs(workdir, exist_ok=True)
    n = args.messages
    rows = []
    fl = floorline(n, workdir)
    fl_rate = n / fl["total_s"]
    tb = None if args.no_peer else peer(n, workdir)
    rows.append(
        {
            "figure": "put->read->ack throughput (floorline, durable FULL)",
            "value": fl_rate,
            "unit": "msg/s",
            "goal": ">= 3x peer",
            "peer": n / tb["total_s"] if tb else None,
            "ratio": fl_rate / (n / tb["total_s"]) if tb else None,
            "note": f"peer: thingsboard-gateway {TB_VERSION} SQLite storage (RAM queue, "
            "synchronous=NORMAL); both commit 1000 per transaction",
        }
    )
    rows.append(
        {
            "figure": "CPU per message, put->read->ack (floorline)",
            "value": fl["cpu_s"] / n * 1e6,
            "unit": "us",
            "note": "this process's CPU time, the bench loop's own work included",
        }
    )
    rows.append(
        {
            "figure": "duplicates / lost (floorline)",
            "value": f"{fl['duplicates']} / {fl['lost']}",
            "unit": "msgs",
            "peer": f"{tb['duplicates']} / {tb['lost']}" if tb else None,
        }
    )
    sbs = side_by_side(workdir)
    b_raw, s_raw, b_fl, s_fl = sbs["raw_b"], sbs["raw_s"], sbs["fl_b"], sbs["fl_s"]
    rows.append(
        {
            "figure": "batched append, 100 per commit",
            "value": b_fl,
            "unit": "rows/s",
            "goal": ">= 0.5 of raw sqlite",
            "peer": b_raw,
            "ratio": b_fl / b_raw,
            "note": "peer: raw sqlite3, 100-row FULL transactions (the physical limit)",
        }
    )
    rows.append(
        {
            "figure": "CPU per appended row, 100 per commit",
            "value": sbs["fl_b_cpu"] * 1e6,
            "unit": "us",
            "peer": sbs["raw_b_cpu"] * 1e6,
            "ratio": sbs["raw_b_cpu"] / sbs["fl_b_cpu"],
            "note": "ratio: raw's CPU over floorline's (1.0 = no cost above the limit)",
        }
    )
    rows.append(
        {
            "figure": "single-record durable commits",
            "value": s_fl,
            "unit": "commits/s",
            "goal": ">= 2000",
            "peer": s_raw,
            "ratio": s_fl / s_raw,
            "note": "peer: raw sqlite3, single-row FULL commits",
        }
    )
    bps = bytes_per_scalar(workdir)
    rows.append(
        {
            "figure": "bytes on disk per scalar reading",
            "value": bps,
            "unit": "B",
            "goal": "<= 40",
            "peer": tb["db_bytes"] / n if tb else None,
            "ratio": (tb["db_bytes"] / n) / bps if tb else None,
            "note": "peer stores a {:.0f} B JSON message per reading".format(tb["message_bytes"])
            if tb
            else "",
        }
    )
    emit("log_ingest", rows)


if __name__ == "__main__":
    sys.exit(main())
