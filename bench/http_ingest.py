"""HTTP ingest: committed records/s and latency with 1, 10 and 100 concurrent clients.

    python -m bench.http_ingest [--seconds 8] [--clients 1,10,100] [--paced 1000,2000] [--no-wrk]

The component runs as it does on a device (`python -m components.http_ingest`, its own
process, a real durable log: WAL, synchronous=FULL). The load comes from another process:
N clients each posting one record per request on a keep-alive connection, as fast as answers
come back (closed loop: with N clients, latency >= N / throughput). Two load generators:
an asyncio script with aiohttp's client (always), and `wrk` (C; Debian package `wrk`) when
installed, which leaves more of the CPU to the server. Latency is measured by the client from
send to the end of the answer. Every 202'd record is checked against the log afterwards. RSS
is the component's, read from /proc after each level. Then 100 paced clients at a fixed total
rate (open loop, as a site's terminals post): latency at a load the gateway sustains.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
GOAL_P99_MS = 20.0


# ---------------------------------------------------------------------- load process
async def _load(url: str, clients: int, seconds: float, rate_per_client: float) -> dict:
    """Closed loop (rate 0: each client sends as soon as its answer came) or paced (each
    client sends every 1/rate s; latency counted from the scheduled send, so a server that
    falls behind is charged for the wait: no coordinated omission)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client(c: int, session: aiohttp.ClientSession) -> None:
        i = 0
        start = time.perf_counter() + (c / clients / rate_per_client if rate_per_client else 0)
        while time.perf_counter() < deadline:
            body = json.dumps(
                {
                    "device": "pos-1",
                    "type": "pos_sale",
                    "data": {
                        "receipt_id": f"{c}-{i}",
                        "total_cents": 450,
                        "currency": "EUR",
                        "lines": [{"sku": "bun", "quantity": 3, "unit_price_cents": 150}],
                    },
                }
            )
            t0 = time.perf_counter()
            if rate_per_client:
                t0 = start + i / rate_per_client
                if t0 >= deadline:
                    break
                await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
            latencies.append(time.perf_counter() - t0)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            i += 1

    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        t_start = time.perf_counter()
        await asyncio.gather(*(client(c, session) for c in range(clients)))
        elapsed = time.perf_counter() - t_start
    return {
        "elapsed_s": elapsed,
        "statuses": statuses,
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
    }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def load_main(url: str, clients: int, seconds: float, rate_per_client: float) -> None:
    print(json.dumps(asyncio.run(_load(url, clients, seconds, rate_per_client))))


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '%s'
"""
_SALE = {
    "device": "pos-1",
    "type": "pos_sale",
    "data": {
        "receipt_id": "r-1",
        "total_cents": 450,
        "currency": "EUR",
        "lines": [{"sku": "bun", "quantity": 3, "unit_price_cents": 150}],
    },
}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def load_wrk(url: str, clients: int, seconds: float, work: Path) -> dict:
    script = work / "post.lua"
    script.write_text(_WRK_SCRIPT % (TOKEN, json.dumps(_SALE)))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    n = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    elapsed = _ms(re.search(r"requests in ([\d.]+\w+)", out).group(1)) / 1000  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = int(bad.group(1)) if bad else 0
    statuses = {"202": n - non2xx, **({"other": non2xx} if non2xx else {})}
    if errors:
        statuses["socket errors"] = errors.group(1)  # type: ignore[assignment]
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return {
        "clients": clients,
        "requests": n,
        "elapsed_s": elapsed,
        "statuses": statuses,
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
    }


def load_python(
    url: str, clients: int, seconds: float, env: dict, rate: float = 0.0, procs: int = 1
) -> dict:
    """`clients` spread over `procs` load processes (so the generator is not the bottleneck)."""
    share = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    running = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.http_ingest",
                "--load",
                url,
                str(n),
                str(seconds),
                str(rate),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for n in share
        if n
    ]
    parts = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in running]
    statuses: dict[str, int] = {}
    for part in parts:
        for k, v in part["statuses"].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    ordered = sorted(x for part in parts for x in part["latencies_ms"])
    return {
        "clients": clients,
        "requests": len(ordered),
        "elapsed_s": max(part["elapsed_s"] for part in parts),
        "statuses": statuses,
        "p50_ms": _percentile(ordered, 0.5),
        "p99_ms": _percentile(ordered, 0.99),
    }


# ---------------------------------------------------------------------- orchestration
def _processes(pid: int) -> list[int]:
    """The component's processes: the HTTP process and its commit process."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def _rss_kib(pid: int) -> tuple[int, int]:
    """RSS and peak RSS summed over the component's processes."""
    rss = peak = 0
    for p in _processes(pid):
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{p}/status").read_text().splitlines()
        )
        rss += int(fields["VmRSS"].split()[0])
        peak += int(fields["VmHWM"].split()[0])
    return rss, peak


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds the component's processes (all threads) have used."""
    total = 0
    for p in _processes(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _health(url: str) -> dict:
    """The component's own counters (/healthz "ingest")."""
    with urllib.request.urlopen(url) as h:
        return json.load(h)["ingest"]


def _count_events(log_path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from components.core.log import Log

    with Log.open(log_path, device="bench-gw", free_floor_bytes=0) as lg:
        return lg.stats()["classes"]["event"]["records"]


def start_server(
    log_path: Path, **config: object
) -> tuple[subprocess.Popen[str], int, dict[str, str]]:
    """The component as a device runs it (its own process, a real log); returns the process,
    its port and the environment it was started with."""
    config = {
        "logPath": str(log_path),
        "freeDiskFloorBytes": 0,
        "bindAddress": "127.0.0.1",
        "port": 0,
        "tokenSha256ByDevice": {"pos-1": hashlib.sha256(TOKEN.encode()).hexdigest()},
        "maxRecordsPerSecondPerDevice": 1e6,
        "burstRecordsPerDevice": 1_000_000,
        **config,
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FLOORLINE_CONFIG": json.dumps(config),
        "AWS_IOT_THING_NAME": "bench-gw",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "components.http_ingest"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline().strip().split("=")[1]), env


def run(seconds: float, levels: list[int], use_wrk: bool, paced_totals: list[float]) -> list[dict]:
    from bench.report import emit

    work = Path(tempfile.mkdtemp(prefix="floorline-http-bench-"))
    log_path = work / "log.sqlite"
    server, port, env = start_server(log_path)
    url = f"http://127.0.0.1:{port}/v1/records"
    rows: list[dict] = []
    accepted = 0
    idle_rss, _ = _rss_kib(server.pid)
    rows.append({"figure": "RSS idle", "value": idle_rss / 1024, "unit": "MiB"})
    tools = ["python"] + (["wrk"] if use_wrk and shutil.which("wrk") else [])
    plan = [(tool, clients, 0.0) for tool in tools for clients in levels]
    plan += [("python", 100, total / 100) for total in paced_totals]
    try:
        health_url = url.replace("/v1/records", "/healthz")
        for tool, clients, rate in plan:
            commits_before = _health(health_url)
            cpu_before = _cpu_s(server.pid)
            if tool == "wrk":
                res = load_wrk(url, clients, seconds, work)
            else:
                # Paced: two load processes, so a 2,000/s schedule is kept by the client side.
                res = load_python(url, clients, seconds, env, rate, procs=2 if rate else 1)
            ok = res["statuses"].get("202", 0)
            accepted += ok
            other = {k: v for k, v in res["statuses"].items() if k != "202"}
            cpu_us = (_cpu_s(server.pid) - cpu_before) / max(ok, 1) * 1e6
            rss, peak = _rss_kib(server.pid)
            health = _health(health_url)
            inside = health["accept_latency_ms"]
            commits = health["commits"] - commits_before["commits"]
            per_commit = (
                health.get("records_accepted", 0) - commits_before.get("records_accepted", 0)
            ) / max(commits, 1)
            note = f"{ok} records" + (f", non-202: {other}" if other else "")
            if rate:
                at = f"{clients} clients paced, {rate * clients:g}/s in all"
            else:
                at = f"{clients} clients, {tool}"
            goal = clients == 100
            rows += [
                {
                    "figure": f"committed records/s, {at}",
                    "value": ok / res["elapsed_s"],
                    "unit": "records/s",
                    "note": note,
                },
                {"figure": f"p50 latency, {at}", "value": res["p50_ms"], "unit": "ms"},
                {
                    "figure": f"p99 latency, {at}",
                    "value": res["p99_ms"],
                    "unit": "ms",
                    "goal": f"< {GOAL_P99_MS:g}" if goal else None,
                    "ratio": round(res["p99_ms"] / GOAL_P99_MS, 2) if goal else None,
                },
                {
                    "figure": f"server-side p99 (last 2048 202s), {at}",
                    "value": inside["p99"],
                    "unit": "ms",
                    "note": f"p50 {inside['p50']} ms, max {inside['max']} ms",
                },
                {
                    "figure": f"server CPU per record, {at}",
                    "value": cpu_us,
                    "unit": "µs",
                    "note": "HTTP and commit processes, user + system",
                },
                {
                    "figure": f"records per durable commit (group commit), {at}",
                    "value": per_commit,
                    "unit": "records",
                    "note": f"{commits} commits; largest so far "
                    f"{health['largest_commit_requests']} requests",
                },
                {
                    "figure": f"RSS after {at}",
                    "value": rss / 1024,
                    "unit": "MiB",
                    "note": f"peak {peak / 1024:.1f} MiB",
                },
            ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    in_log = _count_events(log_path)
    rows.append(
        {
            "figure": "202s found in the log",
            "value": in_log,
            "unit": "records",
            "note": f"{accepted} got 202; the rest were in flight when a load run stopped"
            if in_log >= accepted
            else f"MISSING: {accepted} got 202",
        }
    )
    emit("http_ingest", rows)
    shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clients", default="1,10,100")
    ap.add_argument(
        "--paced",
        default="1000,2000",
        help="aggregate records/s for 100 paced clients (empty: none)",
    )
    ap.add_argument("--no-wrk", action="store_true", help="only the Python load generator")
    ap.add_argument(
        "--load",
        nargs=4,
        metavar=("URL", "CLIENTS", "SECONDS", "RATE"),
        help="internal: be the load process",
    )
    args = ap.parse_args()
    if args.load:
        load_main(args.load[0], int(args.load[1]), float(args.load[2]), float(args.load[3]))
        return
    run(
        args.seconds,
        [int(c) for c in args.clients.split(",")],
        not args.no_wrk,
        [float(r) for r in args.paced.split(",") if r],
    )


if __name__ == "__main__":
    main()
