"""`floorline tables` and `floorline sql`: the technician's ad-hoc, read-only look into the log
or the component-state file beside it, through sqlite-utils.

The connection is opened read-only and with `query_only` on, so no statement typed here can
change the log the components and the uplink rely on: a write fails with SQLite's own error.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import Any

import sqlite_utils
from rich.console import Console

from components.console.levels import EXIT_OK, EXIT_USAGE
from components.console.logview import LogUnavailable, check_log_file, read_only
from components.console.term import render
from components.console.views import Row, Table
from components.core import component_state

DEFAULT_LIMIT = 200  # rows shown by `sql` unless --limit says otherwise (0: all)


class QueryError(Exception):
    """The statement was refused or failed; the message is SQLite's."""


def add_commands(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register `tables` and `sql` on the console's subcommand parser."""
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument(
        "--state",
        action="store_true",
        help="the component-state file beside the log instead of the log",
    )
    sub.add_parser(
        "tables",
        parents=[*parents, which],
        help="tables of the log (or --state file): row counts and schema, read-only",
    )
    sql = sub.add_parser(
        "sql",
        parents=[*parents, which],
        help="run one read-only SQL query on the log (or --state file)",
    )
    sql.add_argument("query", help='e.g. "SELECT stream, COUNT(*) FROM raw GROUP BY stream"')
    sql.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"rows shown (default {DEFAULT_LIMIT}; 0: all)",
    )


def target(log_path: str, state: bool) -> Path:
    """The file inspected: the log, or the component-state file beside it."""
    if not state:
        check_log_file(log_path)  # a floorline log, readable: else LogUnavailable with remedy
        return Path(log_path)
    path = component_state.state_path(log_path)
    if not path.exists():
        raise LogUnavailable(
            f"no component-state file at {path}",
            str(path),
            "it appears once a component has started (check --log)",
        )
    return path


def table_summaries(path: Path) -> list[dict[str, Any]]:
    """Each table with its row count and its CREATE statement."""
    with read_only(path) as conn:
        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        return [
            {"table": t.name, "rows": t.count, "schema": t.schema}
            for t in (db.table(name) for name in db.table_names())
        ]


def run_query(path: Path, sql: str, limit: int = 0) -> tuple[list[str], list[dict[str, Any]], bool]:
    """(columns, rows, truncated): at most `limit` rows (0: all) of one read-only statement."""
    with read_only(path) as conn:
        conn.execute("PRAGMA query_only = ON")
        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        try:
            cursor = db.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            fetched = cursor.fetchmany(limit + 1) if limit else cursor.fetchall()
        except sqlite3.Error as exc:  # syntax, unknown table, an attempted write, two statements
            raise QueryError(str(exc)) from exc
    truncated = bool(limit) and len(fetched) > limit
    rows = [dict(zip(columns, r, strict=True)) for r in fetched[: limit or None]]
    return columns, rows, truncated


def tables_command(args: argparse.Namespace, log_path: str, out: Console) -> int:
    path = target(log_path, args.state)
    summaries = table_summaries(path)
    if args.json:
        out.print_json(data=summaries)
        return EXIT_OK
    counts = Table(
        "tables",
        ["table", "rows"],
        level=None,
        rows=[Row([s["table"], f"{s['rows']:,}"]) for s in summaries],
    )
    schemas = Table(
        "schema",
        ["table", "CREATE statement"],
        level=None,
        rows=[Row([s["table"], " ".join(s["schema"].split())]) for s in summaries],
        text_columns=frozenset({1}),
    )
    render(out, [counts, schemas], f"{path} (read-only)")
    return EXIT_OK


def sql_command(args: argparse.Namespace, log_path: str, out: Console) -> int:
    path = target(log_path, args.state)
    try:
        columns, rows, truncated = run_query(path, args.query, max(args.limit, 0))
    except QueryError as exc:
        out.print(
            f"[bold red]FAIL[/] query refused: {exc}\n  the connection is read-only: "
            "SELECT, PRAGMA reads and EXPLAIN work; one statement per call"
        )
        return EXIT_USAGE
    if args.json:
        out.print_json(data=rows, default=str)
        return EXIT_OK
    note = f"first {len(rows)} rows shown; --limit 0 for all" if truncated else f"{len(rows)} rows"
    table = Table(
        "result",
        columns,
        level=None,
        note=note,
        rows=[Row(["" if v is None else str(v) for v in r.values()]) for r in rows],
    )
    render(out, [table], f"{path} (read-only)")
    return EXIT_OK
