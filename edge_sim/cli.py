"""`python -m edge_sim run ...` (also the `edge-sim` console script)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from edge_sim.fleet import Fleet
from edge_sim.fleet_faults import DEFAULT_FAULTS, ScenarioError, check_within, load_fault_schedule
from edge_sim.fleet_reckoning import FleetResult
from edge_sim.fleet_site import BATTERY_CELLS, short_name
from edge_sim.load import LoadError, LoadPlan, LoadResult, LoadRun
from edge_sim.nucleus.access import CLASSIC, FLAVOURS

console = Console()


def _status(elapsed: float, duration: float, fleet: Fleet) -> Table:
    t = Table(title=f"edge_sim fleet — {elapsed:5.0f} / {duration:.0f} s", expand=False)
    t.add_column("device")
    t.add_column("link")
    t.add_column("components")
    for thing, dev in fleet.devices.items():
        link = "online" if fleet.broker.link(thing).online else "[red]OUTAGE[/red]"
        states = ", ".join(f"{short_name(n)}:{s}" for n, s in dev.states().items())
        t.add_row(thing, link, states)
    if fleet.cloud is not None:
        st = fleet.cloud.lake_stats()
        t.caption = (
            f"lake: {st.get('rows_written', 0):,} rows, "
            f"{st.get('duplicates_dropped', 0):,} duplicates dropped"
        )
    return t


def fault_text(f: dict[str, Any]) -> str:
    """One fault as it happened: `outage of dev-001, dev-002 at 42 s for 30 s`."""
    where = ", ".join(f.get("killed") or f["devices"]) or "no component"
    text = {
        "outage": f"network outage of {where}",
        "kill": f"kill of {where}",
        "kinesis_outage": "Kinesis outage",
        "noisy_serial": f"noisy serial lines on {where}",
        "disk_pressure": f"disk filled on {where}",
        "unplug": f"chip {f.get('chip')} unplugged on {where}",
    }.get(f["kind"], f"{f['kind']} on {where}")
    text += f" at {f['at_s']:g} s"
    if f.get("duration_s"):
        text += f" for {f['duration_s']:g} s"
    return text


def summary_table(res: FleetResult, out: Path) -> Table:
    t = Table(
        title=f"edge_sim summary: {res.devices} device{'s' if res.devices != 1 else ''}, "
        f"{res.duration_s:.0f} s "
        "(from sequence numbers)"
    )
    for col in ("class", "produced", "delivered", "evicted", "still buffered"):
        t.add_column(col, justify="right" if col != "class" else "left")
    for cls in sorted(res.produced):
        t.add_row(
            cls,
            f"{res.produced[cls]:,}",
            f"{res.delivered[cls]:,}",
            f"{res.evicted[cls]:,}",
            f"{res.buffered[cls]:,}",
        )
    return t


def summary_lines(res: FleetResult, out: Path) -> list[str]:
    """What happened besides the counts: each fault, the lake's verdicts, the components."""
    rejected = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in res.rejected.items())
    return [
        "faults: " + ("; ".join(fault_text(f) for f in res.faults) or "none"),
        f"duplicates dropped by the lake: {res.duplicates_received:,} (left in it: "
        f"{res.duplicates_in_lake}); rejected by the lake: {rejected or 'nothing'}",
        f"alerts raised {res.alerts_raised}, cleared {res.alerts_cleared}; kills {res.kills}, "
        f"restarts {res.restarts}; broken {', '.join(res.broken) or 'none'}; "
        f"unaccounted {res.unaccounted}",
        f"summary: {out / 'summary.json'}",
    ]


PROGRESS_EVERY_S = 5.0  # piped output: one line this often instead of a live table


def progress_line(elapsed: float, duration: float, fleet: Fleet) -> str:
    """The live table in one line, for logs and CI."""
    outage = [t for t in fleet.devices if not fleet.broker.link(t).online]
    states = [(t, n, s) for t, d in fleet.devices.items() for n, s in d.states().items()]
    down = [f"{t}/{short_name(n)}:{s}" for t, n, s in states if s != "RUNNING"]
    line = (
        f"{elapsed:4.0f}/{duration:.0f} s  links: "
        f"{'OUTAGE ' + ','.join(outage) if outage else 'all online'}  components: "
        f"{len(states) - len(down)}/{len(states)} running"
        + (f" ({', '.join(down)})" if down else "")
    )
    if fleet.cloud is not None:
        line += f"  lake: {fleet.cloud.lake_stats().get('rows_written', 0):,} rows"
    return line


def run(args: argparse.Namespace) -> int:
    try:
        if args.scenario:
            faults = load_fault_schedule(Path(args.scenario), [])
        else:
            faults = [
                replace(f, at_s=f.at_s * args.duration, duration_s=f.duration_s * args.duration)
                for f in load_fault_schedule(None, DEFAULT_FAULTS)
            ]
        check_within(faults, args.duration)
    except ScenarioError as exc:
        console.print(f"[red]scenario error:[/red] {exc}")
        return 2
    fleet = Fleet(
        Path(args.out),
        args.devices,
        seed=args.seed,
        faults=faults,
        anomaly_at_s=args.duration * 0.2,
        # Batteries that last twice the run: a short demo shows packs draining, running low
        # (an alert) and swapped.
        battery_life_s=args.duration * 2,
        nucleus=args.nucleus,
    )
    code = 0
    try:
        with console.status("starting the broker and the devices..."):
            fleet.start()
        console.print("Look at a device as its technician would:")
        for thing in fleet.things:
            console.print(f"  {fleet.console_command(thing)}", soft_wrap=True, highlight=False)
        if console.is_terminal:
            with Live(
                _status(0, args.duration, fleet), console=console, refresh_per_second=2
            ) as live:
                fleet.run(
                    args.duration,
                    progress=lambda el, fl: live.update(_status(el, args.duration, fl)),
                )
        else:
            fleet.run(args.duration, progress=_every(PROGRESS_EVERY_S, args.duration))
    except KeyboardInterrupt:
        code = 130
    finally:
        with console.status("stopping the producers, draining the backlog..."):
            res = fleet.stop(drain_s=args.drain)
    if res is None:
        return code or 1
    console.print(summary_table(res, fleet.out))
    for line in summary_lines(res, fleet.out):
        console.print(line, highlight=False)
    lake = fleet.out / "lake"
    console.print(
        f"\nThe lake: [bold]{lake}[/bold] (Parquet, partitioned by site and date)\n"
        f"  python -m cloud.lake --root {lake} query "
        "\"SELECT device, split_part(stream, '/', 1) AS kind, count(*) FROM telemetry "
        'GROUP BY ALL ORDER BY ALL"\n'
        f"  python -m cloud.dashboard --lake {lake} --battery-cells {BATTERY_CELLS}"
        "   # the fleet dashboard in a browser"
    )
    if res.unaccounted or res.broken:
        code = code or 1
    return code


def _every(period_s: float, duration: float):  # noqa: ANN202 (a progress callback)
    last = [-period_s]

    def progress(elapsed: float, fleet: Fleet) -> None:
        if elapsed - last[0] >= period_s:
            last[0] = elapsed
            console.print(progress_line(elapsed, duration, fleet), soft_wrap=True, highlight=False)

    return progress


def load_table(res: LoadResult, out: Path) -> Table:
    t = Table(title=f"edge_sim load: {res.devices:,} devices x {res.rate_hz:g} batch/s "
                    f"for {res.duration_s:g} s")  # fmt: skip
    t.add_column("figure")
    t.add_column("value", justify="right")
    ok = "[green]OK[/green]" if res.exactly_once else "[red]FAIL[/red]"

    def pct(d: dict[str, float]) -> str:
        return " / ".join(f"{d[k]:,.0f}" for k in ("p50", "p99", "max") if k in d) or "-"

    rows = [
        ("clients connected / refused", f"{res.connected:,} / {len(res.refused):,}"),
        (
            "batches offered / sent / acknowledged",
            f"{res.offered:,} / {res.sent:,} / {res.acked:,}",
        ),
        ("connections lost", f"{res.lost_connections:,}"),
        ("rows in the lake", f"{res.rows_in_lake:,}"),
        ("acknowledged rows missing from the lake", f"{res.acked_rows_missing:,} {ok}"),
        (
            "duplicates in the lake / dropped by it",
            f"{res.duplicates_in_lake:,} / {res.duplicates_dropped:,}",
        ),
        ("quarantined batches", f"{res.quarantined:,}"),
        ("lag send -> lake, ms (p50 / p99 / max)", pct(res.lag_ms)),
        ("PUBACK latency, ms (p50 / p99 / max)", pct(res.ack_latency_ms)),
        ("send lateness, ms (p50 / p99 / max)", pct(res.send_lateness_ms)),
        ("drain after the last send, s", f"{res.drain_s:.1f}"),
        *((f"rate {k}, /s", f"{v:,.0f}") for k, v in res.rates_per_s.items()),
        *((f"CPU {k}, % of a core", f"{v:.0f}") for k, v in res.cpu_pct.items()),
        *((f"setup {k}, s", f"{v:.1f}") for k, v in res.setup_s.items()),
        ("load average (1/5/15 min)", " ".join(f"{x:.2f}" for x in res.load_average)),
    ]
    for name, value in rows:
        t.add_row(name, value)
    t.caption = f"summary: {out / 'load-summary.json'}"
    return t


def _load_status(phase: str, run: LoadRun) -> str:
    c = run.counts()
    lake = run.cloud.lake_batches if run.cloud is not None else 0
    return (
        f"{phase}: {c['connected']:,} connected, {c['refused']:,} refused, "
        f"{c['sent']:,} sent, {c['acked']:,} acknowledged, {lake:,} batches in the lake"
    )


def load(args: argparse.Namespace) -> int:
    plan = LoadPlan(
        devices=args.devices,
        duration_s=args.duration,
        rate_hz=args.rate,
        workers=args.workers,
        lake_buffer_s=args.lake_buffer,
        seed=args.seed,
    )
    out = Path(args.out)
    try:
        with console.status("starting the broker, issuing certificates...") as status:
            res = LoadRun(plan, out).run(lambda phase, run: status.update(_load_status(phase, run)))
    except LoadError as exc:
        console.print(f"[red]load error:[/red] {exc}")
        return 2
    (out / "load-summary.json").write_text(json.dumps(res.as_dict(), indent=2))
    console.print(load_table(res, out.resolve()))
    return 0 if res.exactly_once and not res.refused else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge_sim", description="floorline's simulated fleet")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a fleet of simulated devices end to end")
    r.add_argument("--devices", type=int, default=3)
    r.add_argument("--duration", type=float, default=120.0, help="seconds of simulated running")
    r.add_argument("--out", default="edge-sim-out", help="where devices, cloud and lake go")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--scenario", help="YAML file of faults (default: one outage, one kill)")
    r.add_argument("--drain", type=float, default=60.0, help="seconds allowed to drain after")
    r.add_argument(
        "--nucleus",
        choices=FLAVOURS,
        default=CLASSIC,
        help="the Greengrass nucleus the devices play: classic, or lite (no Stream Manager)",
    )
    r.set_defaults(func=run)
    ld = sub.add_parser("load", help="load the local cloud with bare MQTT clients")
    ld.add_argument("--devices", type=int, default=1000)
    ld.add_argument("--duration", type=float, default=30.0, help="seconds of publishing")
    ld.add_argument("--rate", type=float, default=1.0, help="batches per second per device")
    ld.add_argument("--out", default="edge-sim-load", help="where broker, cloud and lake go")
    ld.add_argument("--workers", type=int, default=1, help="client processes")
    ld.add_argument(
        "--lake-buffer",
        type=float,
        default=1.0,
        help="seconds the cloud buffers deliveries per lake write (Firehose-like)",
    )
    ld.add_argument("--seed", type=int, default=1)
    ld.set_defaults(func=load)
    return p


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_sigterm() -> None:
    """`kill` (a CI timeout, a service manager) stops a fleet the way Ctrl-C does: the
    components, the broker and the cloud side stop with it instead of running on orphaned
    (each component is in its own session, so the signal does not reach it)."""
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    interrupt_on_sigterm()
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
