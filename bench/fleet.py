"""Fleet capacity on this machine: full-fidelity devices in real time, and load-mode devices
the local cloud absorbs.

    python bench/fleet.py [--quick] [--part fleet|load|both] [--out DIR]

(a) Full fidelity (edge_sim.fleet.Fleet: every component a real process, the real IPC and
Stream Manager clients, Mosquitto with mutual TLS, the rules, the lake). Step N up; each step
warms up until every device has produced every sensor stream, then measures a window.
A step runs in REAL TIME when, over the window:
  - every sensor stream of every device sampled at >= 95 % of the rate that the same stream
    has in the first (smallest) step, the baseline (rates from the readings' own timestamps:
    sequence advance over the time between the newest reading before and after the
    window). Not of the nominal rate: the ADXL345 FIFO read blocks the sensors loop for its
    window, so even an idle device reads vibration a few % slower than nominal (the table
    shows the ratio to nominal too). A starved device polls later still, its intervals
    stretch and its rate drops below the baseline; and
  - the uplink backlog of the fleet (its IoT and Kinesis log consumers) grew by no more
    than 5 % of what was produced in the window, or 5 s of production if that is more (the
    uplink ships a batch every couple of seconds, so a snapshot just before a shipment is
    not growth): the uplink ships as fast as the sensors write, the backlog does not build
    up; and
  - no component is BROKEN.
Memory per device: the sum of the RSS (and PSS, which splits shared pages fairly) of the
device's component process groups, plus the device's share of the runner, broker and lake
processes.

(b) Load mode (edge_sim.load: bare MQTT clients with their own certificates publishing uplink
batches at 1 batch/s). A step is ABSORBED when the clients kept their schedule (send lateness
p99 <= 1 s), every batch was acknowledged, every acknowledged batch is in the lake exactly
once, and the cloud needed at most the lake buffer interval + 3 s after the last send to land
everything (the backlog did not build up during the run). CPU per part (broker, cloud process
= the rules bridge, the lake process, clients) names what saturates.

The machine is shared: each step records the load average, which counts other jobs too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.report import emit  # noqa: E402
from components.core.log import Log  # noqa: E402
from components.uplink.senders import IOT_CONSUMER, KINESIS_CONSUMER  # noqa: E402
from edge_sim.cli import interrupt_on_sigterm  # noqa: E402
from edge_sim.fleet import Fleet  # noqa: E402
from edge_sim.fleet_site import CHIPS  # noqa: E402
from edge_sim.load import LoadPlan, LoadRun, cpu_seconds  # noqa: E402

console = Console()

RATE_TOLERANCE = 0.95
BACKLOG_GROWTH_MAX = 0.05  # of the window's production...
BACKLOG_NOISE_S = 5.0  # ...or this many seconds of it: the uplink ships every couple of seconds
UPLINK_CONSUMERS = (IOT_CONSUMER, KINESIS_CONSUMER)
INTERVAL_BY_ADDRESS = {c["address"]: float(c["sampleIntervalSeconds"]) for c in CHIPS}


# ---------------------------------------------------------------- /proc helpers
def _kib(pid: int, name: str, file: str = "smaps_rollup") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def group_pids(pgids: set[int]) -> dict[int, list[int]]:
    """The processes of each process group (a component and anything it started), in one
    pass over /proc: a scan per group made a 50-device step take minutes."""
    out: dict[int, list[int]] = {g: [] for g in pgids}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        group = out.get(int(text[text.rindex(")") + 2 :].split()[2]))
        if group is not None:
            group.append(int(entry.name))
    return out


def memory_kib(pids: list[int]) -> dict[str, int]:
    return {"rss": sum(_kib(p, "Rss") for p in pids), "pss": sum(_kib(p, "Pss") for p in pids)}


# ---------------------------------------------------------------- (a) full fidelity
def _interval_s(stream: str) -> float | None:
    address = stream.rsplit("@", 1)[-1] if "@" in stream else ""
    return INTERVAL_BY_ADDRESS.get(address)


def snapshot(fleet: Fleet) -> dict[str, Any]:
    """Per device: records produced per sensor stream, and the uplink backlog."""
    devices = {}
    for thing in fleet.things:
        path = fleet.out / "devices" / thing / "data" / "log.sqlite"
        if not path.exists():
            devices[thing] = {"t": time.monotonic(), "streams": {}, "backlog": 0, "produced": 0}
            continue
        with Log.open(path, device=thing, free_floor_bytes=0) as lg:
            streams = lg.streams()
            # The uplink's consumers only: analytics acknowledges once per aggregation window.
            backlog = sum(
                b["records"] for name, consumer in lg.stats()["backlog"].items()
                if name in UPLINK_CONSUMERS for b in consumer.values()
            )  # fmt: skip
            heads = lg.stream_heads("raw")
        devices[thing] = {
            "t": time.monotonic(),
            "streams": {
                s["stream"]: s["produced"]
                for s in streams  # the sensors' readings
                if s["cls"] == "raw" and _interval_s(s["stream"]) is not None
            },
            "heads": heads,
            "produced": sum(s["produced"] for s in streams),
            "backlog": backlog,
        }
    return devices


def component_pids(fleet: Fleet) -> dict[tuple[str, str], list[int]]:
    """(thing, component) -> the processes of the component's process group."""
    leaders = {(thing, name): comp.proc.pid
               for thing, dev in fleet.devices.items() for name, comp in dev.components.items()
               if comp.proc is not None and comp.proc.poll() is None}  # fmt: skip
    groups = group_pids(set(leaders.values()))
    return {key: groups[pgid] for key, pgid in leaders.items()}


def cloud_pids(fleet: Fleet) -> dict[str, int]:
    """The runner (nucleus and Stream Manager of every device, the rules bridge), the broker
    and the lake process, when they run."""
    pids = {"runner": os.getpid(), "broker": fleet.broker.pid,
            "lake": fleet.cloud.lake_pid if fleet.cloud is not None else None}  # fmt: skip
    return {k: p for k, p in pids.items() if p}


def cpu_by_part(fleet: Fleet, pids: dict[tuple[str, str], list[int]]) -> dict[str, float]:
    """Cumulative CPU seconds: per component name (all devices), the runner, the broker, the
    lake."""
    out = {part: cpu_seconds(pid) for part, pid in cloud_pids(fleet).items()}
    for (_thing, name), ps in pids.items():
        part = name.rsplit(".", 1)[-1]
        out[part] = out.get(part, 0.0) + sum(cpu_seconds(p) for p in ps)
    return out


def wait_warm(fleet: Fleet, timeout_s: float) -> float:
    """Until every device has produced every sensor stream (components are up)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        fleet.run(2.0)
        snap = snapshot(fleet)
        if all(len(d["streams"]) >= len(CHIPS) for d in snap.values()):
            break
    return time.monotonic() - t0


def fleet_step(n: int, root: Path, build: Path, window_s: float,
               baseline: dict[str, float] | None) -> dict[str, Any]:  # fmt: skip
    fleet = Fleet(root / f"fleet-{n}", n, seed=1, faults=[], build_dir=build)
    step: dict[str, Any] = {"devices": n}
    t0 = time.monotonic()
    try:
        fleet.start()
        step["start_s"] = time.monotonic() - t0
        step["warmup_s"] = wait_warm(fleet, timeout_s=60 + 3 * n)
        # Past the first uplink batches, and past the start-up of every component process
        # (imports, first connections): a step measures the fleet running, not starting.
        step["settle_s"] = max(10.0, 0.5 * n)
        fleet.run(step["settle_s"])
        pids = component_pids(fleet)
        cpu0 = cpu_by_part(fleet, pids)
        before = snapshot(fleet)
        fleet.run(window_s)
        after = snapshot(fleet)
        cpu1 = cpu_by_part(fleet, pids)
        step["load_average"] = os.getloadavg()
        now = component_pids(fleet)
        mem = {thing: memory_kib([p for (t, _n), ps in now.items() if t == thing for p in ps])
               for thing in fleet.things}  # fmt: skip
        shared = memory_kib(list(cloud_pids(fleet).values()))
        step |= _judge(before, after, baseline)
        step["cpu_pct_by_part"] = {k: 100 * (cpu1[k] - cpu0.get(k, 0.0)) / window_s
                                   for k in cpu1}  # fmt: skip
        step["cpu_cores"] = sum(step["cpu_pct_by_part"].values()) / 100
        share = {k: shared[k] / n for k in ("rss", "pss")}
        step["mem_mib_per_device"] = {
            k: (sum(m[k] for m in mem.values()) / n + share[k]) / 1024 for k in ("rss", "pss")
        }
        step["runner_share_mib"] = {k: v / 1024 for k, v in share.items()}
        step["broken"] = [f"{t}/{c.name}" for t, d in fleet.devices.items()
                          for c in d.components.values() if c.state == "BROKEN"]  # fmt: skip
        step["realtime"] = bool(step["min_rate_ratio"] >= RATE_TOLERANCE
                                and step["backlog_growth_s"] <= max(
                                    BACKLOG_NOISE_S, BACKLOG_GROWTH_MAX * window_s)
                                and not step["broken"])  # fmt: skip
    finally:
        res = fleet.stop(drain_s=20.0)
    if res is not None:
        step["unaccounted"] = res.unaccounted
        step["duplicates_in_lake"] = res.duplicates_in_lake
    return step


def _chip(stream: str) -> str:
    return stream.split("/", 1)[-1]  # e.g. bme280@0x76: the same on every device


def _rate_ratio(stream: str, before: dict[str, Any], after: dict[str, Any], count: int,
                window_s: float) -> float:  # fmt: skip
    """The stream's sampling rate over the window as a share of its nominal rate, from the
    readings' own timestamps: (seq advance) / (time between the newest reading before and at
    the end). Counting readings between two snapshot times instead is off by up to one reading
    per window (0.5 s in 15 s is 3 %), which alone could fail a 95 % criterion."""
    interval = _interval_s(stream) or 1.0
    b, a = before.get("heads", {}).get(stream), after.get("heads", {}).get(stream)
    if b is not None and a is not None and a[1] > b[1] and a[0] > b[0]:
        return (a[0] - b[0]) / ((a[1] - b[1]) / 1e9) * interval
    return count / (window_s / interval)  # no reading held on one side: count instead


def _judge(before: dict[str, Any], after: dict[str, Any],
           baseline: dict[str, float] | None) -> dict[str, Any]:  # fmt: skip
    """Rates per stream against nominal, and against the baseline step (if any)."""
    ratios: dict[str, list[float]] = {}
    worst, worst_where = float("inf"), ""
    produced = backlog_growth = 0
    window = 1.0
    for thing, a in after.items():
        b = before[thing]
        window = a["t"] - b["t"]
        for stream, count in a["streams"].items():
            ratio = _rate_ratio(stream, b, a, count - b["streams"].get(stream, 0), window)
            ratios.setdefault(_chip(stream), []).append(ratio)
            relative = ratio / baseline[_chip(stream)] if baseline else ratio
            if relative < worst:
                worst, worst_where = relative, f"{thing} {stream}"
        produced += a["produced"] - b["produced"]
        backlog_growth += a["backlog"] - b["backlog"]
    mean = {chip: sum(r) / len(r) for chip, r in ratios.items()}
    if not baseline:  # the baseline step: devices against the fleet's own mean
        worst = min((min(r) / mean[c] for c, r in ratios.items()), default=0.0)
    return {
        "min_rate_ratio": worst,  # vs the baseline step (the first step: vs its own mean)
        "slowest_stream": worst_where,
        "rate_vs_nominal": mean,
        "records_in_window": produced,
        "backlog_growth": backlog_growth / max(1, produced),
        # In seconds of the fleet's production: comparable across window lengths.
        "backlog_growth_s": backlog_growth / max(1e-9, produced / window),
    }


def bench_fleet(steps: list[int], window_s: float, root: Path) -> list[dict[str, Any]]:
    build = root / "greengrass-build"
    results: list[dict[str, Any]] = []
    for n in steps:
        console.print(f"[bold]full fidelity: {n} devices[/bold] (window {window_s:.0f} s)")
        baseline = results[0]["rate_vs_nominal"] if results else None
        step = fleet_step(n, root, build, window_s, baseline)
        results.append(step)
        console.print(_brief(step), step.get("cpu_pct_by_part"))
        shutil.rmtree(root / f"fleet-{n}", ignore_errors=True)
        if not step.get("realtime"):
            break
    return results


def _brief(step: dict[str, Any]) -> str:
    return json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in step.items()
                       if not isinstance(v, dict | list)})  # fmt: skip


# ---------------------------------------------------------------- (b) load mode
def load_step(n: int, duration_s: float, root: Path, workers: int) -> dict[str, Any]:
    plan = LoadPlan(devices=n, duration_s=duration_s, rate_hz=1.0, workers=workers)
    broker_rss: list[int] = []

    def progress(phase: str, run: LoadRun) -> None:
        if phase == "running" and run.broker is not None and run.broker.pid:
            broker_rss.append(_kib(run.broker.pid, "VmRSS", "status"))

    res = LoadRun(plan, root / f"load-{n}").run(progress)
    shutil.rmtree(root / f"load-{n}", ignore_errors=True)
    lateness = res.send_lateness_ms.get("p99", 0.0)
    drained = res.drain_s <= plan.lake_buffer_s + 3.0
    absorbed = (lateness <= 1000 and res.acked == res.sent == res.offered and res.exactly_once
                and res.lost_connections == 0 and drained)  # fmt: skip
    cpu = res.cpu_pct
    ceilings = {
        "broker": 100.0,
        "cloud_process": 100.0,
        "lake_process": 100.0,
        "clients": 100.0 * workers,
    }
    busiest = max(ceilings, key=lambda k: cpu.get(k, 0.0) / ceilings[k]) if cpu else ""
    # Our parts together against the cores, and how long they waited for one: a part below
    # its own ceiling that waits for CPU is starved by the machine, not limited by itself.
    used = sum(cpu.get(k, 0.0) for k in ceilings)
    waited = sum(cpu.get(f"{k}_wait", 0.0) for k in ceilings)
    if used + waited >= 100.0 * (os.cpu_count() or 1) * 0.9:
        busiest = f"all {os.cpu_count()} cores ({busiest} busiest)"
    return {
        "devices": n,
        "absorbed": absorbed,
        "client_limited": lateness > 1000,
        "offered": res.offered,
        "acked": res.acked,
        "rows_in_lake": res.rows_in_lake,
        "acked_rows_missing": res.acked_rows_missing,
        "duplicates_in_lake": res.duplicates_in_lake,
        "lag_ms": res.lag_ms,
        "send_lateness_ms": res.send_lateness_ms,
        "drain_s": res.drain_s,
        "rates_per_s": res.rates_per_s,
        "cpu_pct": cpu,
        "busiest": busiest,
        "broker_rss_kib_per_client": max(broker_rss, default=0) / n,
        "setup_s": res.setup_s,
        "load_average": res.load_average,
    }


def bench_load(steps: list[int], duration_s: float, root: Path,
               workers: int) -> list[dict[str, Any]]:  # fmt: skip
    results = []
    for n in steps:
        console.print(f"[bold]load mode: {n} devices at 1 batch/s[/bold] ({duration_s:.0f} s)")
        step = load_step(n, duration_s, root, workers)
        results.append(step)
        console.print(_brief(step), step["cpu_pct"], step["lag_ms"])
        if not step["absorbed"]:
            break
    return results


# ---------------------------------------------------------------- report
def table(fleet: list[dict[str, Any]], load: list[dict[str, Any]]) -> None:
    if fleet:
        t = Table(title="full-fidelity devices (every component a process)")
        for col in ("N", "real time", "min rate", "rate/nominal", "backlog +s", "cores",
                    "RSS MiB/dev",
                    "PSS MiB/dev", "start s", "load avg"):  # fmt: skip
            t.add_column(col, justify="right")
        for s in fleet:
            mem = s.get("mem_mib_per_device", {})
            t.add_row(str(s["devices"]), "yes" if s.get("realtime") else "[red]no[/red]",
                      f"{s.get('min_rate_ratio', 0):.3f}",
                      f"{min(s.get('rate_vs_nominal', {}).values(), default=0):.3f}",
                      f"{s.get('backlog_growth_s', 0):.1f}",
                      f"{s.get('cpu_cores', 0):.2f}", f"{mem.get('rss', 0):.0f}",
                      f"{mem.get('pss', 0):.0f}", f"{s.get('start_s', 0):.0f}",
                      f"{s.get('load_average', (0,))[0]:.1f}")  # fmt: skip
        console.print(t)
    if load:
        t = Table(title="load-mode devices at 1 batch/s")
        for col in (
            "N",
            "absorbed",
            "acked/s",
            "lake rows/s",
            "lag p99 ms",
            "drain s",
            "broker %",
            "rules %",
            "lake %",
            "clients %",
            "busiest",
            "load avg",
        ):
            t.add_column(col, justify="right")
        for s in load:
            c = s["cpu_pct"]
            t.add_row(str(s["devices"]), "yes" if s["absorbed"] else "[red]no[/red]",
                      f"{s['rates_per_s'].get('acked', 0):,.0f}",
                      f"{s['rates_per_s'].get('lake_rows', 0):,.0f}",
                      f"{s['lag_ms'].get('p99', 0):,.0f}", f"{s['drain_s']:.1f}",
                      f"{c.get('broker', 0):.0f}", f"{c.get('cloud_process', 0):.0f}",
                      f"{c.get('lake_process', 0):.0f}", f"{c.get('clients', 0):.0f}",
                      s["busiest"], f"{s['load_average'][0]:.1f}")  # fmt: skip
        console.print(t)


def rows(fleet: list[dict[str, Any]], load: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if fleet:
        ok = [s for s in fleet if s.get("realtime")]
        best = ok[-1] if ok else None
        failed = next((s for s in fleet if not s.get("realtime")), None)
        out.append({
            "figure": "full-fidelity devices in real time",
            "value": best["devices"] if best else 0, "unit": "devices", "goal": ">= 50",
            "ratio": (best["devices"] / 50) if best else 0.0,
            "note": (f"first failing step: {failed['devices']} (min rate "
                     f"{failed.get('min_rate_ratio', 0):.2f}, backlog growth "
                     f"{failed.get('backlog_growth_s', 0):.1f} s)" if failed
                     else "no step failed (stopped at the last step)")
                    + (f"; load avg {best['load_average'][0]:.1f}" if best else ""),
        })  # fmt: skip
        if best:
            out.append(
                {
                    "figure": "memory per full-fidelity device (RSS)",
                    "value": best["mem_mib_per_device"]["rss"],
                    "unit": "MiB",
                    "note": f"at {best['devices']} devices; PSS "
                    f"{best['mem_mib_per_device']['pss']:.0f} MiB; runner+broker "
                    f"share {best['runner_share_mib']['rss']:.0f} MiB RSS",
                }
            )
            split = ", ".join(f"{k} {v / best['devices']:.1f}"
                              for k, v in sorted(best["cpu_pct_by_part"].items(),
                                                 key=lambda kv: -kv[1]))  # fmt: skip
            out.append(
                {
                    "figure": "CPU per full-fidelity device",
                    "unit": "% of a core",
                    "value": 100 * best["cpu_cores"] / best["devices"],
                    "note": f"at {best['devices']} devices; by part: {split}",
                }
            )
    if load:
        ok = [s for s in load if s["absorbed"]]
        best = ok[-1] if ok else None
        failed = next((s for s in load if not s["absorbed"]), None)
        note = "no step failed (stopped at the last step)"
        if failed:
            why = "the clients (schedule missed)" if failed["client_limited"] else failed["busiest"]
            note = (
                f"saturates at {failed['devices']}: busiest {why} "
                f"(CPU {json.dumps({k: round(v) for k, v in failed['cpu_pct'].items()})}), "
                f"drain {failed['drain_s']:.1f} s, lag p99 "
                f"{failed['lag_ms'].get('p99', 0):,.0f} ms"
            )
        out.append(
            {
                "figure": "load-mode devices absorbed at 1 batch/s",
                "value": best["devices"] if best else 0,
                "unit": "devices",
                "goal": ">= 5000",
                "ratio": (best["devices"] / 5000) if best else 0.0,
                "note": note + (f"; load avg {best['load_average'][0]:.1f}" if best else ""),
            }
        )
        if best:
            out.append(
                {
                    "figure": "lake rows/s at that load",
                    "value": best["rates_per_s"].get("lake_rows", 0.0),
                    "unit": "rows/s",
                    "note": f"lag p99 {best['lag_ms'].get('p99', 0):,.0f} ms "
                    f"(includes the 1 s lake buffer)",
                }
            )
            out.append(
                {
                    "figure": "broker memory per TLS client",
                    "unit": "KiB",
                    "value": best["broker_rss_kib_per_client"],
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer, shorter steps")
    p.add_argument("--part", choices=("fleet", "load", "both"), default="both")
    p.add_argument("--fleet-steps", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--load-steps", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--workers", type=int, default=1, help="load-mode client processes")
    p.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    args = p.parse_args(argv)
    interrupt_on_sigterm()  # a timed-out run still stops the fleet it started
    fleet_steps = args.fleet_steps or ([2, 20, 50] if args.quick
                                       else [2, 10, 20, 35, 50, 70])  # fmt: skip
    load_steps = args.load_steps or (
        [500, 1000, 2000] if args.quick else [500, 1000, 2000, 3000, 4000, 5000, 7000]
    )
    window_s = 15.0 if args.quick else 30.0
    duration_s = 10.0 if args.quick else 20.0
    root = args.out or Path(tempfile.mkdtemp(prefix="fleetbench-"))
    root.mkdir(parents=True, exist_ok=True)
    fleet = bench_fleet(fleet_steps, window_s, root) if args.part in ("fleet", "both") else []
    load = (bench_load(load_steps, duration_s, root, args.workers)
            if args.part in ("load", "both") else [])  # fmt: skip
    table(fleet, load)
    name = "fleet" if args.part == "both" else f"fleet_{args.part}"
    path = emit(name, rows(fleet, load))
    path.with_name(f"{name}_steps.json").write_text(
        json.dumps({"fleet": fleet, "load": load}, indent=2, default=str)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
