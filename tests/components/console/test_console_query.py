"""`floorline tables` and `floorline sql`: read-only inspection of a log written by the log's
API, and of the component-state file beside it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from console_world import components_running

from components.console.__main__ import main
from components.console.levels import EXIT_CANNOT_RUN, EXIT_OK, EXIT_USAGE
from components.core.log import LOG_FORMAT_VERSION


def _digest(path: Path) -> str:
    """The log's bytes, its write-ahead log's included (where a write would land first)."""
    wal = Path(f"{path}-wal")
    data = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    return hashlib.sha256(data).hexdigest()


def _json(captured) -> object:
    return json.loads(captured.text)


def test_tables_lists_each_table_with_its_row_count_and_schema(site, captured):
    with site.open() as lg:
        streams = lg.streams()
    assert (
        main(
            ["tables", "--json", "--config", str(site.config_file)],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_OK
    )
    tables = {t["table"]: t for t in _json(captured)}
    assert tables["streams"]["rows"] == len(streams) > 0
    assert tables["streams"]["schema"].startswith("CREATE TABLE")
    assert {"meta", "consumers"} <= tables.keys()


def test_tables_as_a_table(site, captured):
    assert (
        main(
            ["tables", "--config", str(site.config_file)],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_OK
    )
    assert "(read-only)" in captured.text
    assert "streams" in captured.text and "CREATE TABLE" in captured.text


def test_sql_answers_a_query_on_the_log(site, captured):
    with site.open() as lg:
        produced = {s["stream"]: s["produced"] for s in lg.streams()}
    query = "SELECT stream, next_seq - 1 AS produced FROM streams ORDER BY stream"
    assert (
        main(
            ["sql", query, "--json", "--config", str(site.config_file)],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_OK
    )
    assert {r["stream"]: r["produced"] for r in _json(captured)} == produced


def test_sql_shows_a_table_and_says_when_rows_were_left_out(site, captured):
    assert (
        main(
            [
                "sql",
                "SELECT key, value FROM meta ORDER BY key",
                "--limit",
                "1",
                "--config",
                str(site.config_file),
            ],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_OK
    )
    assert "first 1 rows shown; --limit 0 for all" in captured.text
    captured.buffer.truncate(0)
    captured.buffer.seek(0)
    assert (
        main(
            [
                "sql",
                "SELECT value FROM meta WHERE key = 'log_format'",
                "--config",
                str(site.config_file),
            ],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_OK
    )
    assert str(LOG_FORMAT_VERSION) in captured.text and "1 rows" in captured.text


def test_sql_cannot_change_the_log(site, captured):
    before = _digest(site.path)
    for statement in (
        "DELETE FROM streams",
        "DROP TABLE meta",
        "UPDATE consumers SET acked_wall_ms = 0",
        "PRAGMA user_version = 7",
        "SELECT 1; DELETE FROM streams",
    ):
        captured.buffer.truncate(0)
        captured.buffer.seek(0)
        assert (
            main(
                ["sql", statement, "--config", str(site.config_file)],
                clock=site.clock,
                console=captured.console,
            )
            == EXIT_USAGE
        ), statement
        assert "FAIL" in captured.text and "query refused" in captured.text, statement
    assert _digest(site.path) == before


def test_a_bad_query_says_what_sqlite_said(site, captured):
    assert (
        main(
            ["sql", "SELECT * FROM no_such_table", "--config", str(site.config_file)],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_USAGE
    )
    assert "no such table: no_such_table" in captured.text


def test_state_file_beside_the_log(site, captured):
    components_running(site)
    assert (
        main(
            [
                "sql",
                "SELECT name, state FROM components ORDER BY name",
                "--state",
                "--json",
                "--config",
                str(site.config_file),
            ],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_OK
    )
    rows = _json(captured)
    assert sorted(r["name"] for r in rows) == sorted(site.config["components"])
    assert {r["state"] for r in rows} == {"RUNNING"}


def test_no_state_file_yet_is_a_clear_failure(site, captured):
    assert (
        main(
            ["tables", "--state", "--config", str(site.config_file)],
            clock=site.clock,
            console=captured.console,
        )
        == EXIT_CANNOT_RUN
    )
    assert "no component-state file" in captured.text and "remedy" in captured.text
