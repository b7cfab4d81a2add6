"""`python -m edge_sim run ...` (also the `edge-sim` console script)."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from edge_sim.fleet import DEFAULT_FAULTS, Fleet, FleetResult, ScenarioError, load_scenario

console = Console()


def _status(elapsed: float, duration: float, fleet: Fleet) -> Table:
    t = Table(title=f"edge_sim fleet — {elapsed:5.0f} / {duration:.0f} s", expand=False)
    t.add_column("device")
    t.add_column("link")
    t.add_column("components")
    for thing, dev in fleet.devices.items():
        link = "online" if fleet.broker.link(thing).online else "[red]OUTAGE[/red]"
        states = ", ".join(f"{n.rsplit('.', 1)[-1]}:{s}" for n, s in dev.states().items())
        t.add_row(thing, link, states)
    if fleet.cloud is not None:
        st = fleet.cloud.lake_stats()
        t.caption = (
            f"lake: {st.get('rows_written', 0):,} rows, "
            f"{st.get('duplicates_dropped', 0):,} duplicates dropped"
        )
    return t


def summary_table(res: FleetResult, out: Path) -> Table:
    t = Table(title="edge_sim summary (from sequence numbers)")
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
    t.caption = (
        f"duplicates dropped by the lake: {res.duplicates_received:,} (left in it: "
        f"{res.duplicates_in_lake}); {res.rejected}; "
        f"alerts raised {res.alerts_raised}, cleared {res.alerts_cleared}; kills {res.kills}, "
        f"restarts {res.restarts}; broken {res.broken or 'none'}; "
        f"unaccounted {res.unaccounted}\nsummary: {out / 'summary.json'}"
    )
    return t


def run(args: argparse.Namespace) -> int:
    try:
        if args.scenario:
            faults = load_scenario(Path(args.scenario), [])
        else:
            faults = [
                replace(f, at_s=f.at_s * args.duration, duration_s=f.duration_s * args.duration)
                for f in load_scenario(None, DEFAULT_FAULTS)
            ]
    except ScenarioError as exc:
        console.print(f"[red]scenario error:[/red] {exc}")
        return 2
    fleet = Fleet(
        Path(args.out),
        args.devices,
        seed=args.seed,
        faults=faults,
        anomaly_at_s=args.duration * 0.2,
    )
    code = 0
    try:
        with console.status("starting the broker and the devices..."):
            fleet.start()
        with Live(_status(0, args.duration, fleet), console=console, refresh_per_second=2) as live:
            fleet.run(
                args.duration, progress=lambda el, fl: live.update(_status(el, args.duration, fl))
            )
    except KeyboardInterrupt:
        code = 130
    finally:
        with console.status("stopping the producers, draining the backlog..."):
            res = fleet.stop(drain_s=args.drain)
    if res is None:
        return code or 1
    console.print(summary_table(res, fleet.out))
    lake = fleet.out / "lake"
    console.print(
        f"\nThe lake: [bold]{lake}[/bold] (Parquet, partitioned by site and date)\n"
        f"  python -m cloud.lake --root {lake} query "
        '"SELECT device, split_part(stream, \'/\', 1) AS kind, count(*) FROM telemetry '
        'GROUP BY ALL ORDER BY ALL"\n'
        f"  python -m cloud.dashboard --lake {lake}   # the fleet dashboard in a browser"
    )
    if res.unaccounted or res.broken:
        code = code or 1
    return code


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
    r.set_defaults(func=run)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
