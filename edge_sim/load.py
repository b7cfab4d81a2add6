"""Load mode: thousands of devices as bare MQTT clients against the local cloud side.

    python -m edge_sim load --devices 2000 --duration 30 --rate 1 --out DIR

No component processes: a broker (Mosquitto, mutual TLS, one certificate per device issued by
the broker's CA), the cloud side (edge_sim/cloud_side.py: the rules bridge in this process,
the lake in a process of its own, as Firehose is a service of its own), and worker processes
(edge_sim/load_client.py) whose clients publish real uplink batches. The run is reckoned from
the lake: every acknowledged batch exactly once, the lag from a batch's scheduled send time to
its rows' arrival, and where the CPU went (broker, this process with the rules bridge, the lake
process, the clients), sampled every second.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

from edge_sim.broker import Broker
from edge_sim.cloud_side import CloudSide
from edge_sim.load_client import (
    COUNTERS,
    STREAM_NAMES,
    ReadingSynth,
    WorkerSpec,
    batches_per_device,
    worker_main,
)

log = logging.getLogger("edge_sim.load")

FDS_PER_DEVICE = 1  # one socket per client in the workers, one per connection in the broker
FD_HEADROOM = 1024
MAX_PLANNED_BATCHES = 1_000_000  # batches are encoded ahead: about 450 bytes each in memory
CLK_TCK = os.sysconf("SC_CLK_TCK")


class LoadError(RuntimeError):
    """The load run could not be set up or a worker failed; the message says why."""


@dataclass(frozen=True)
class LoadPlan:
    devices: int
    duration_s: float
    rate_hz: float = 1.0  # batches per second per device
    site: str = "site-load"
    workers: int = 1
    lake_buffer_s: float = 1.0
    seed: int = 1
    drain_timeout_s: float = 120.0
    prefix: str = "load"

    @property
    def things(self) -> list[str]:
        return [f"{self.prefix}-{i + 1:05d}" for i in range(self.devices)]

    @property
    def batches(self) -> int:
        return self.devices * batches_per_device(self.duration_s, self.rate_hz)


@dataclass
class Sample:
    t_s: float  # since the common start
    sent: int
    acked: int
    bridged: int  # messages the rules bridge took from the broker
    lake_batches: int  # deliveries written to the lake
    pending: int  # deliveries buffered for the lake
    cpu_s: dict[str, float]  # cumulative CPU seconds per part


@dataclass
class LoadResult:
    devices: int
    duration_s: float
    rate_hz: float
    connected: int = 0
    refused: list[str] = field(default_factory=list)
    offered: int = 0  # batches the schedule called for
    sent: int = 0
    acked: int = 0
    lost_connections: int = 0
    rows_in_lake: int = 0
    acked_rows_expected: int = 0
    acked_rows_missing: int = 0  # must be 0: an acknowledged batch is in the lake
    duplicates_in_lake: int = 0  # must be 0: exactly once
    duplicates_dropped: int = 0
    quarantined: int = 0
    lag_ms: dict[str, float] = field(default_factory=dict)  # scheduled send -> lake
    ack_latency_ms: dict[str, float] = field(default_factory=dict)
    send_lateness_ms: dict[str, float] = field(default_factory=dict)
    drain_s: float = 0.0  # after the last send, until the lake held every delivery
    rates_per_s: dict[str, float] = field(default_factory=dict)  # during the send window
    # Of one core, over the send window; `*_wait`: runnable but waiting for a core.
    cpu_pct: dict[str, float] = field(default_factory=dict)
    setup_s: dict[str, float] = field(default_factory=dict)
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def exactly_once(self) -> bool:
        return self.acked_rows_missing == 0 and self.duplicates_in_lake == 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "exactly_once": self.exactly_once}


def raise_fd_limit(needed: int) -> int:
    """Raise this process' soft RLIMIT_NOFILE (children, Mosquitto included, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise LoadError(
            f"{needed} file descriptors needed, the hard limit is {hard}: raise it "
            "(ulimit -Hn, /etc/security/limits.conf) or run fewer devices"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_seconds(pid: int) -> float:
    """Time the process' threads spent runnable but waiting for a CPU (/proc schedstat): when
    it grows with the load, the machine's cores, not the part itself, are the limit."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between listing and reading
    return total / 1e9


def _encode_seconds_per_batch(site: str) -> float:
    synth = ReadingSynth("load-probe", 0)
    t = time.perf_counter()
    for k in range(1, 41):
        synth.batch(k, 1_700_000_000_000 + k, site)
    return (time.perf_counter() - t) / 40


def _one_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The row of an aggregate query (which always has one)."""
    row = con.execute(sql).fetchone()
    if row is None:
        raise LoadError(f"no row from {sql!r}")
    return row


class LoadRun:
    def __init__(self, plan: LoadPlan, out: Path) -> None:
        if plan.devices < 1 or plan.duration_s <= 0 or plan.rate_hz <= 0:
            raise LoadError("devices, duration and rate must be positive")
        if plan.batches > MAX_PLANNED_BATCHES:
            raise LoadError(
                f"{plan.batches:,} batches planned; load mode encodes them ahead and takes at "
                f"most {MAX_PLANNED_BATCHES:,} per run (shorten --duration or lower --rate)"
            )
        self.plan = plan
        self.out = Path(out).resolve()
        self.result = LoadResult(plan.devices, plan.duration_s, plan.rate_hz)
        self.samples: list[Sample] = []
        self.broker: Broker | None = None
        self.cloud: CloudSide | None = None
        self._procs: list[Any] = []

    # ------------------------------------------------------------------ the run
    def run(self, progress: Callable[[str, LoadRun], None] | None = None) -> LoadResult:
        plan, res = self.plan, self.result
        raise_fd_limit(plan.devices * FDS_PER_DEVICE * 2 + FD_HEADROOM)
        self.out.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        self.broker = Broker(self.out / "broker")
        self.broker.start()
        try:
            issued = [self.broker.issue_device_cert(thing) for thing in plan.things]
            res.setup_s["certificates"] = time.monotonic() - t
            self.cloud = CloudSide(
                self.broker,
                self.out / "cloud" / "kinesis",
                self.out / "lake",
                lake_buffer_s=plan.lake_buffer_s,
            )
            self.cloud.start()
            try:
                worker_results = self._drive(issued, progress)
                self._drain(progress)
            finally:
                self._stop_workers()
                self.cloud.stop()
            try:
                for _index, r in sorted(worker_results.items()):
                    self._tally(r)
                self._reckon(worker_results)
            finally:
                self.cloud.close()
        finally:
            self.broker.stop()
        res.load_average = os.getloadavg()
        return res

    def _drive(self, issued: list[Any], progress: Any) -> dict[int, dict[str, Any]]:
        plan, res = self.plan, self.result
        assert self.broker is not None
        ctx = mp.get_context("spawn")  # this process runs threads: never fork it
        workers = max(1, min(plan.workers, plan.devices))
        self.counters = ctx.Array("q", workers * len(COUNTERS), lock=False)
        start_ms = ctx.Value("q", 0, lock=False)
        results = ctx.Queue()
        per = -(-plan.devices // workers)
        for w in range(workers):
            chunk = range(w * per, min(plan.devices, (w + 1) * per))
            spec = WorkerSpec(
                host="127.0.0.1", port=self.broker.port, ca=str(self.broker.ca_path),
                devices=[(plan.things[i], str(issued[i].cert), str(issued[i].key))
                         for i in chunk],
                site=plan.site, rate_hz=plan.rate_hz, duration_s=plan.duration_s,
                seed=plan.seed, index=w, first_device=chunk.start, fleet_size=plan.devices,
            )  # fmt: skip
            proc = ctx.Process(target=worker_main, args=(spec, self.counters, start_ms, results),
                               name=f"load-worker-{w}", daemon=True)  # fmt: skip
            proc.start()
            self._procs.append(proc)
        t = time.monotonic()
        connect_deadline = t + 60 + plan.devices * 0.01
        while self._count("ready") < workers:
            self._check_workers(results)
            if time.monotonic() > connect_deadline:
                raise LoadError(f"clients not connected in time: {self.counts()}")
            if progress:
                progress("connecting", self)
            time.sleep(0.2)
        res.setup_s["connect"] = time.monotonic() - t
        res.connected = self._count("connected")
        # Batches are encoded ahead, stamped with their scheduled send time: give the workers
        # time to do it before the common start.
        per_worker = batches_per_device(plan.duration_s, plan.rate_hz) * per
        # The estimate is from this (idle) process; the workers share the cores with the cloud.
        crowding = max(1.0, workers / (os.cpu_count() or 1))
        lead_s = 2.0 + 2.5 * crowding * per_worker * _encode_seconds_per_batch(plan.site)
        res.setup_s["encode_lead"] = lead_s
        self.start_wall = time.time() + lead_s
        start_ms.value = int(self.start_wall * 1000)
        self.start_mono = time.monotonic() + lead_s
        out: dict[int, dict[str, Any]] = {}
        while len(out) < workers:
            while not results.empty():
                index, r = results.get()
                if "error" in r:
                    raise LoadError(f"load worker {index} failed: {r['error']}")
                out[index] = r
            if len(out) < workers and not any(p.is_alive() for p in self._procs):
                time.sleep(0.5)
                if results.empty():
                    raise LoadError("load workers exited without a result")
            self._sample()
            if progress:
                progress("running", self)
            time.sleep(1.0)
        self.end_mono = time.monotonic()
        return out

    def _drain(self, progress: Any) -> None:
        """Until the cloud has taken every acknowledged batch and written it to the lake."""
        assert self.cloud is not None
        last_send = self.start_mono + self.plan.duration_s
        deadline = time.monotonic() + self.plan.drain_timeout_s
        acked = self._count("acked")
        while time.monotonic() < deadline:
            bridged = self.cloud.bridge_messages
            if bridged >= acked and self.cloud.lake_batches >= bridged:
                break
            self._sample()
            if progress:
                progress("draining", self)
            time.sleep(0.1)
        else:
            log.warning("event=load_drain_timeout acked=%d bridged=%d lake=%d", acked,
                        self.cloud.bridge_messages, self.cloud.lake_batches)  # fmt: skip
        self.result.drain_s = max(0.0, time.monotonic() - last_send)
        self._sample()

    # ------------------------------------------------------------------ bookkeeping
    def _count(self, name: str) -> int:
        i = COUNTERS.index(name)
        return sum(self.counters[w * len(COUNTERS) + i] for w in range(len(self._procs)))

    def counts(self) -> dict[str, int]:
        return {name: self._count(name) for name in COUNTERS}

    def _check_workers(self, results: Any) -> None:
        if not results.empty():
            index, r = results.get()
            raise LoadError(f"load worker {index} stopped early: {r.get('error', r)}")

    def _sample(self) -> None:
        assert self.cloud is not None and self.broker is not None
        cpu = {
            "broker": cpu_seconds(self.broker.pid) if self.broker.pid else 0.0,
            "cloud_process": cpu_seconds(os.getpid()),
            "clients": sum(cpu_seconds(p.pid) for p in self._procs if p.pid),
        }
        cpu["broker_wait"] = wait_seconds(self.broker.pid) if self.broker.pid else 0.0
        cpu["cloud_process_wait"] = wait_seconds(os.getpid())
        cpu["clients_wait"] = sum(wait_seconds(p.pid) for p in self._procs if p.pid)
        lake = self.cloud.lake_pid
        if lake is not None:
            cpu["lake_process"] = cpu_seconds(lake)
            cpu["lake_process_wait"] = wait_seconds(lake)
        self.samples.append(Sample(
            time.monotonic() - getattr(self, "start_mono", time.monotonic()),
            self._count("sent"), self._count("acked"), self.cloud.bridge_messages,
            self.cloud.lake_batches, self.cloud.lake_pending, cpu,
        ))  # fmt: skip

    def _stop_workers(self) -> None:
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()

    def _tally(self, r: dict[str, Any]) -> None:
        res = self.result
        res.refused += r["refused"]
        for sent, unacked, lost in r["devices"].values():
            res.sent += sent
            res.acked += sent - len(unacked)
            res.lost_connections += int(lost)
        res.setup_s["encode"] = max(res.setup_s.get("encode", 0.0), r["encode_s"])
        for key, src in (("ack_latency_ms", "ack_latency_s"), ("send_lateness_ms", "lateness_s")):
            # Several workers: the worst of each percentile (a bound, not a merge).
            merged = getattr(res, key)
            for q, v in r[src].items():
                merged[q] = max(merged.get(q, float("-inf")), v * 1000)

    def _window_rates(self) -> None:
        """Rates and CPU shares over the send window (first to last sample inside it)."""
        res = self.result
        inside = [s for s in self.samples if 0.0 <= s.t_s <= self.plan.duration_s]
        if len(inside) < 2:
            return
        a, b = inside[0], inside[-1]
        span = b.t_s - a.t_s
        if span <= 0:
            return
        res.rates_per_s = {
            "offered": self.plan.devices * self.plan.rate_hz,
            "sent": (b.sent - a.sent) / span,
            "acked": (b.acked - a.acked) / span,
            "bridged": (b.bridged - a.bridged) / span,
            "lake_batches": (b.lake_batches - a.lake_batches) / span,
            "lake_rows": (b.lake_batches - a.lake_batches) * len(STREAM_NAMES) / span,
        }
        res.cpu_pct = {k: 100 * (b.cpu_s[k] - a.cpu_s.get(k, 0.0)) / span for k in b.cpu_s}

    def _reckon(self, worker_results: dict[int, dict[str, Any]]) -> None:
        """From the lake: every acknowledged batch exactly once; the lag."""
        from cloud.lake.query import connect

        assert self.cloud is not None
        res, plan = self.result, self.plan
        self._window_rates()
        res.offered = plan.batches
        sent_rows, unacked_rows = [], []
        for r in worker_results.values():
            for thing, (sent, unacked, _lost) in r["devices"].items():
                sent_rows.append((thing, sent))
                unacked_rows += [(thing, n) for n in unacked]
                res.acked_rows_expected += (sent - len(unacked)) * len(STREAM_NAMES)
        assert self.cloud.lake is not None  # opened once the lake process finished
        stats = self.cloud.lake.stats()
        res.duplicates_dropped = stats.get("duplicates_dropped", 0)
        res.quarantined = stats.get("quarantined_batches", 0)
        con = connect(self.cloud.lake)
        try:
            con.register("sent", pa.table({"device": [d for d, _ in sent_rows],
                                           "sent": [n for _, n in sent_rows]}))  # fmt: skip
            con.register("unacked", pa.table({
                "device": pa.array([d for d, _ in unacked_rows], pa.string()),
                "seq": pa.array([n for _, n in unacked_rows], pa.int64())}))  # fmt: skip
            con.register("streams", pa.table({"stream": list(STREAM_NAMES)}))
            rows, distinct = _one_row(
                con,
                "SELECT count(*), count(DISTINCT (device, stream, seq)) FROM telemetry "
                "WHERE device IN (SELECT device FROM sent)",
            )
            res.rows_in_lake, res.duplicates_in_lake = rows, rows - distinct
            (acked_in_lake,) = _one_row(
                con,
                "SELECT count(DISTINCT (t.device, t.stream, t.seq)) FROM telemetry t "
                "JOIN sent s ON t.device = s.device AND t.seq BETWEEN 1 AND s.sent "
                "WHERE t.stream IN (SELECT stream FROM streams) AND NOT EXISTS "
                "(SELECT 1 FROM unacked u WHERE u.device = t.device AND u.seq = t.seq)",
            )
            res.acked_rows_missing = res.acked_rows_expected - acked_in_lake
            lag = _one_row(
                con,
                "SELECT quantile_cont(ingest_ms - wall_ms, 0.5), "
                "quantile_cont(ingest_ms - wall_ms, 0.99), max(ingest_ms - wall_ms) "
                "FROM telemetry WHERE device IN (SELECT device FROM sent)",
            )
        finally:
            con.close()
        if lag[0] is not None:
            res.lag_ms = {"p50": float(lag[0]), "p99": float(lag[1]), "max": float(lag[2])}


def run_load(plan: LoadPlan, out: Path,
             progress: Callable[[str, LoadRun], None] | None = None) -> LoadResult:  # fmt: skip
    return LoadRun(plan, out).run(progress)
