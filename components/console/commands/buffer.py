"""`floorline buffer stats|verify|export`: the durable log."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from components.console import config as console_config
from components.console import export, verify
from components.console.commands.common import Flags, Handler, Parser, device, print_json
from components.console.config import ConsoleSettings
from components.console.levels import EXIT_CANNOT_RUN, EXIT_OK, exit_code
from components.console.logview import open_log
from components.console.term import render
from components.console.views import stats_tables, verify_tables
from components.core.clock import Clock
from components.core.envelope import CLASSES
from components.lib import export as export_format


def add_to(sub: Any, flags: Flags) -> None:
    common, as_json = flags.common, flags.as_json
    buf = sub.add_parser("buffer", help="the durable log").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    buf.add_parser("stats", parents=[common, as_json], help="records, backlog, counters")
    buf.add_parser(
        "verify",
        parents=[common, as_json],
        help="integrity check and sequence continuity per stream",
    )
    ex = buf.add_parser(
        "export", parents=[common], help="copy the backlog to a folder (USB stick) with a manifest"
    )
    ex.add_argument("--to", required=True, help="destination folder")
    ex.add_argument("--format", choices=export_format.FORMATS, default="parquet")
    ex.add_argument(
        "--all",
        action="store_true",
        help="every record held, not only those the uplink has not acknowledged",
    )


def buffer_stats(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    lg = open_log(cfg, clock, device(args))
    try:
        stats, streams = lg.stats(), lg.streams()
    finally:
        lg.close()
    if args.json:
        print_json(out, {"stats": stats, "streams": streams})
    else:
        render(out, stats_tables(stats, streams), f"log {stats['path']}")
    return EXIT_OK


def buffer_verify(
    args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console
) -> int:
    from components.console.logview import check_log_file

    check_log_file(cfg.logPath)
    with out.status("checking integrity and sequence numbers (read-only)..."):
        report = verify.run(cfg.logPath)
    if args.json:
        print_json(out, report.to_dict())
    else:
        render(out, verify_tables(report), f"buffer verify {cfg.logPath}", report.level)
    return exit_code([report.level])


def _backlog_estimate(stats: dict[str, Any], prefix: str, everything: bool) -> int:
    """Records the export will hold (for the progress bar): per class, the backlog of the
    furthest-behind uplink consumer, or everything held when no uplink consumer takes it."""
    total = 0
    for cls in CLASSES:
        held = stats["classes"][cls]["records"]
        behind = [
            per[cls]["records"]
            for name, per in stats["backlog"].items()
            if name.startswith(prefix) and cls in per
        ]
        total += held if everything or not behind else max(behind)
    return total


def buffer_export(
    args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console
) -> int:
    dev = device(args)
    lg = open_log(cfg, clock, dev)
    try:
        prefix = cfg.uplinkConsumerPrefix
        estimate = _backlog_estimate(lg.stats(), prefix, args.all)
        skip = {} if args.all else export.sent_upto(cfg.logPath, prefix)
        columns = (
            TextColumn("exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        # The manifest names the site, so an import under another site is refused.
        unassigned = console_config.SPEC.keys["siteId"].default
        site = None if cfg.siteId == unassigned else cfg.siteId
        with Progress(*columns, console=out, transient=False) as bar:
            task = bar.add_task("export", total=max(estimate, 1))

            def progress(done: int) -> None:
                bar.update(task, completed=done, total=max(estimate, done))

            result = export.write_export(
                lg,
                args.to,
                fmt=args.format,
                device=dev,
                now_wall_ms=clock.wall_ms(),
                scope="all" if args.all else "backlog",
                site=site,
                skip_upto=skip,
                progress=progress,
            )
            bar.update(
                task, completed=result.manifest["records"], total=max(result.manifest["records"], 1)
            )
    except export_format.ExportError as exc:
        out.print(f"[bold red]FAIL[/] {exc}")
        return EXIT_CANNOT_RUN
    finally:
        lg.close()
    m = result.manifest
    out.print(
        f"[green]OK[/] {m['records']} records from {len(m['streams'])} streams in "
        f"{len(m['files'])} files -> {result.folder}"
    )
    out.print(
        f"import it with: python -m cloud.lake import {shlex.quote(str(result.folder))} "
        f"--site {shlex.quote(cfg.siteId)}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    return EXIT_OK


HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("buffer", "stats"): buffer_stats,
    ("buffer", "verify"): buffer_verify,
    ("buffer", "export"): buffer_export,
}
