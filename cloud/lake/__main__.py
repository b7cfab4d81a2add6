"""`python -m cloud.lake query "SELECT ..."` (also `compact`, `stats`, `import`) over a local
lake. `import DIR --site S` loads a technician's USB export (`floorline buffer export`) with
dedup by identity, so records that also arrive later through the uplink land once."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Sequence

import duckdb
from rich.console import Console
from rich.table import Table

from cloud.lake.query import query
from cloud.lake.store import Lake
from components.core.clock import SystemClock

DEFAULT_ROOT = os.environ.get("FLOORLINE_LAKE", "lake")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud.lake", description=__doc__)
    parser.add_argument("--root", default=DEFAULT_ROOT, help="lake folder (env FLOORLINE_LAKE)")
    commands = parser.add_subparsers(dest="command", required=True)
    q = commands.add_parser("query", help="run SQL over the views telemetry and latest_state")
    q.add_argument("sql")
    q.add_argument("--json", action="store_true", help="one JSON object per row")
    commands.add_parser("compact", help="merge small Parquet files per partition")
    commands.add_parser("stats", help="counters: rows, duplicates, quarantined, files")
    imp = commands.add_parser("import", help="load a verified `floorline buffer export` folder")
    imp.add_argument("folder")
    imp.add_argument("--site", required=True, help="the site the exporting device belongs to")
    imp.add_argument(
        "--also-device",
        action="append",
        default=[],
        metavar="DEVICE",
        help="a device whose records the exporting gateway carries (e.g. a terminal posting "
        "to its HTTP ingest); any other device in the export refuses it",
    )
    args = parser.parse_args(argv)
    console = Console()
    with Lake(args.root, clock=SystemClock()) as lake:
        if args.command == "query":
            try:
                names, rows = query(lake, args.sql)
            except duckdb.Error as exc:
                Console(stderr=True).print(f"[red]FAIL[/red] {exc}")
                return 2
            if args.json:
                for values in rows:
                    print(json.dumps(dict(zip(names, values, strict=True)), default=str))
                return 0
            table = Table(*names)
            for values in rows:
                table.add_row(*("" if v is None else str(v) for v in values))
            console.print(table)
            console.print(f"[green]OK[/green] {len(rows)} rows")
        elif args.command == "import":
            return _import(lake, args.folder, args.site, args.also_device, console)
        elif args.command == "compact":
            result = lake.compact()
            console.print(
                f"[green]OK[/green] {result.files_merged} files merged into "
                f"{result.files_written} in {result.partitions} partitions"
            )
        else:
            for name, value in sorted(lake.stats().items()):
                console.print(f"{name}={value}")
    return 0


# Records handed to the lake per write: memory stays flat whatever the export's size.
IMPORT_CHUNK_RECORDS = 5_000


def _import(
    lake: Lake, folder: str, site: str, also_devices: Sequence[str], console: Console
) -> int:
    """The export is verified to its end (manifest, hashes, devices, every record, counts)
    before a single row is written, then read again and written in chunks: constant memory.
    Exit 2 for an export refused (nothing written)."""
    from components.lib.export import ExportInvalid, load_manifest, read_export

    err = Console(stderr=True)
    try:
        manifest = load_manifest(folder)
        if manifest.get("site", site) != site:
            raise ExportInvalid(
                f"the export is from site {manifest['site']!r}, not {site!r}",
                evidence=manifest["site"],
            )
        verified = sum(1 for _ in read_export(folder, also_devices=also_devices))
    except ExportInvalid as exc:
        err.print(f"[red]FAIL[/red] {folder}: {exc}; nothing imported")
        return 2
    except OSError as exc:
        err.print(f"[red]FAIL[/red] {folder}: cannot be read: {exc}; nothing imported")
        return 2
    written = duplicates = 0
    try:
        records = read_export(folder, also_devices=also_devices)
        while chunk := list(itertools.islice(records, IMPORT_CHUNK_RECORDS)):
            result = lake.ingest_records(site, chunk)
            written, duplicates = written + result.rows_written, duplicates + result.duplicates
    except (ExportInvalid, OSError) as exc:  # changed under us since the check
        err.print(
            f"[red]FAIL[/red] {folder} changed while importing: {exc}; {written} records "
            "written so far (importing again adds each record once)"
        )
        return 2
    console.print(
        f"[green]OK[/green] {verified} records from {folder}: "
        f"{written} new, {duplicates} already in the lake"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
