"""The uplink as a real process (`python -m components.uplink`, real awsiotsdk and stream-manager
clients) against edge_sim's nucleus (InMemoryCloud, limits enforced) and Stream Manager
(MemoryKinesis), draining a backlog log; progress read from the log's consumer offsets, memory
and CPU from /proc."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.uplink.senders import IOT_CONSUMER, KINESIS_CONSUMER
from edge_sim.nucleus.cloud import InMemoryCloud
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.ipc_server import NucleusServer
from edge_sim.stream_manager import MemoryKinesis, StreamManagerServer

ROOT = Path(__file__).resolve().parents[1]
UPLINK = "com.floorline.Uplink"
TOKEN = "tok-uplink-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _recipe() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "recipes" / "Uplink.yaml").read_text())


def _acl() -> dict[str, Any]:
    return _recipe()["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]


def recipe_env() -> dict[str, str]:
    """The recipe's Setenv (as the nucleus sets it), but PYTHONPATH: here the source tree."""
    setenv = _recipe()["Manifests"][0]["Lifecycle"].get("Setenv") or {}
    return {k: str(v) for k, v in setenv.items() if k != "PYTHONPATH"}


@dataclass
class Sample:
    t_s: float  # since the process started
    rss_kb: int
    cpu_s: float
    acked: dict[str, dict[str, int]]


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    cloud: InMemoryCloud | None = None
    kinesis: MemoryKinesis | None = None
    sm_snapshot: dict[str, Any] | None = None
    hwm_kb: int = 0
    done_s: float | None = None
    exit_output: str = ""
    profile: str | None = None


def proc_rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    rss = hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return rss, hwm


def proc_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _offsets(db: sqlite3.Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, cls, pos in db.execute("SELECT name, cls, acked_pos FROM consumers"):
        out.setdefault(name, {})[cls] = pos
    return out


def last_positions(log_path: Path) -> dict[str, int]:
    """The last position per class in a freshly built log (what a full drain must reach)."""
    db = sqlite3.connect(f"file:{log_path}?mode=ro", uri=True)
    try:
        return {
            cls: db.execute(f"SELECT coalesce(max(pos), 0) FROM rec_{cls}").fetchone()[0]
            for cls in ("alert", "event", "aggregate", "health", "raw")
        }
    finally:
        db.close()


def drain(
    log_path: Path,
    thing: str,
    *,
    use_kinesis: bool,
    timeout_s: float,
    profile_s: float = 0.0,
    poll_s: float = 0.1,
    min_run_s: float = 0.0,
) -> Run:
    """Run the uplink until every record of the log is acknowledged by its consumers (and for
    at least `min_run_s`: an empty log measures the idle process)."""
    target = last_positions(log_path)
    wanted = {
        IOT_CONSUMER: {c: p for c, p in target.items() if p and (c != "raw" or not use_kinesis)},
        **({KINESIS_CONSUMER: {"raw": target["raw"]}} if use_kinesis and target["raw"] else {}),
    }
    acl = _acl()
    cfg = {
        "siteId": "plant-1",
        "logPath": str(log_path),
        "logBudgetBytes": 8 << 30,
        "freeDiskFloorBytes": 0,
        "useKinesis": use_kinesis,
        "accessControl": acl,
    }
    sock_dir = tempfile.mkdtemp(prefix="gg", dir="/tmp")
    cloud = InMemoryCloud()
    store = ConfigStore()
    store.set_component(UPLINK, cfg)
    server = NucleusServer(
        f"{sock_dir}/ipc.sock",
        components={UPLINK: (TOKEN, acl)},
        config_store=store,
        cloud=cloud,
        thing_name=thing,
    )
    kinesis = MemoryKinesis()
    sm = StreamManagerServer(log_path.parent / "sm", auth_tokens={TOKEN}, sink=kinesis, speed=600.0)
    server.start()
    sm.start()
    run = Run(cloud=cloud, kinesis=kinesis)
    out_path = log_path.parent / f"uplink-{'kinesis' if use_kinesis else 'iot'}.out"
    env = {
        **os.environ,
        **recipe_env(),
        "PYTHONPATH": str(ROOT),
        "SVCUID": TOKEN,
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": f"{sock_dir}/ipc.sock",
        "AWS_IOT_THING_NAME": thing,
        "STREAM_MANAGER_SERVER_PORT": str(sm.port),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": TOKEN,
    }
    db = sqlite3.connect(f"file:{log_path}?mode=ro", uri=True, timeout=30)
    prof: subprocess.Popen | None = None
    profiling = False
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "components.uplink"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            # Profile the bulk phase: after the alerts (one message each) are through.
            alerts_pos = wanted.get(IOT_CONSUMER, {}).get("alert", 0)
            while time.monotonic() - t0 < timeout_s and proc.poll() is None:
                try:
                    rss, _ = proc_rss_kb(proc.pid)
                    cpu = proc_cpu_s(proc.pid)
                    acked = _offsets(db)
                except (OSError, sqlite3.OperationalError):
                    time.sleep(poll_s)
                    continue
                run.samples.append(Sample(time.monotonic() - t0, rss, cpu, acked))
                if (
                    profile_s
                    and not profiling
                    and (acked.get(IOT_CONSUMER, {}).get("alert", 0) >= alerts_pos)
                ):
                    profiling = True
                    prof = _start_profile(proc.pid, profile_s, log_path.parent / "profile.txt")
                if run.samples[-1].t_s >= min_run_s and all(
                    acked.get(name, {}).get(c, 0) >= p
                    for name, per in wanted.items()
                    for c, p in per.items()
                ):
                    run.done_s = time.monotonic() - t0
                    break
                time.sleep(poll_s)
            if prof is not None:
                prof.wait(timeout=profile_s + 60)
                out_txt = log_path.parent / "profile.txt"
                run.profile = out_txt.read_text() if out_txt.exists() else None
            _wait_spool(server, cloud, timeout_s=60)  # acked = spooled; let the nucleus deliver
            if use_kinesis:  # let Stream Manager's export hand the rest to Kinesis
                _wait_export(sm, timeout_s=60)
            run.sm_snapshot = sm.snapshot()
            if proc.poll() is None:
                _, run.hwm_kb = proc_rss_kb(proc.pid)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            db.close()
            sm.stop()
            server.stop()
            shutil.rmtree(sock_dir, ignore_errors=True)
    run.exit_output = out_path.read_text()[-4000:]
    return run


def _wait_spool(server: NucleusServer, cloud: InMemoryCloud, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        published = cloud.stats["published"]
        if published != last:
            last, stable_since = published, time.monotonic()
        idle = server.mqtt.snapshot()["spooled_messages"] == 0
        if idle and time.monotonic() - stable_since > 0.5:
            return
        time.sleep(0.1)


def _wait_export(sm: StreamManagerServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pending = False
        for st in sm.snapshot()["streams"].values():
            newest = st["storage"].get("newestSequenceNumber", -1)
            if any(ex["lastExportedSequenceNumber"] < newest for ex in st["exports"]):
                pending = True
        if not pending:
            return
        time.sleep(0.2)


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return None
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "50",
            "-f",
            "raw",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
