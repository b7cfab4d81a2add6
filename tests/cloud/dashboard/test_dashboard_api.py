"""The JSON API over HTTP, and reading a lake that a writer is changing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloud.dashboard import snapshot
from cloud.dashboard.server import App, make_server
from components.core.clock import ManualClock

REPO = Path(__file__).resolve().parents[3]


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_dashboard_endpoint(serve, fleet, settings):
    base = serve()
    status, doc = get(f"{base}/api/dashboard?site=north&range=1h")
    assert status == 200
    assert doc["filters"] == {"site": "north", "device": None, "range": "1h"}
    assert set(doc["charts"]["temperature"]["series"]) == {"dev-a", "dev-b"}
    assert doc["charts"]["temperature"]["svg"].startswith("<svg")
    status, doc = get(f"{base}/api/dashboard")
    assert {d["device"] for d in doc["offline"]} == fleet.offline(
        fleet.now_ms, settings.offline_after_s
    )


def test_bad_filters_are_refused_and_counted(serve):
    base = serve()
    for query in ("range=3y", "device=bad%20name", "site=a/b", "colour=red"):
        status, doc = get(f"{base}/api/dashboard?{query}")
        assert status == 400, query
        assert doc["error"]
    status, health = get(f"{base}/healthz")
    assert status == 200 and health["stats"]["bad_filters"] == 4


def test_page_and_unknown_path(serve):
    base = serve(refresh_s=2.5)
    with urllib.request.urlopen(f"{base}/", timeout=30) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assert 'data-refresh-s="2.5"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN
    status, _ = get(f"{base}/nope")
    assert status == 404


def test_missing_lake_is_a_clear_503(tmp_path: Path):
    app = App(lake_root=tmp_path / "nothing", clock=ManualClock())
    server = make_server(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        status, doc = get(f"http://{host}:{port}/api/dashboard")
        assert status == 503 and "no lake database" in doc["error"]
    finally:
        server.shutdown()
        server.server_close()


def test_server_binds_loopback_by_default(fleet):
    server = make_server(App(lake_root=fleet.root, clock=ManualClock()))
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_reader_leaves_a_writers_temporary_files_alone(fleet):
    """The dashboard never runs the lake's recovery: an ingest in progress keeps its files."""
    partition = next((fleet.root / "telemetry").glob("site=*/dt=*"))
    in_progress = partition / "part-1-inflight.parquet.tmp"
    in_progress.write_bytes(b"being written")
    snap = snapshot.read_snapshot(fleet.root)
    assert in_progress.exists()
    assert all(not p.name.endswith(".tmp") for p in snap.files)


def test_pending_compaction_counts_each_row_once(fleet):
    """Between a compaction's commit and its cleanup both the new file and the old ones are
    listed; the snapshot must show the rows once, whichever side is in place."""
    before = snapshot.read_snapshot(fleet.root)
    rows_before = sum(pq.read_metadata(p).num_rows for p in before.files)
    site_dir = fleet.root / "telemetry" / "site=north"
    olds = sorted(site_dir.rglob("*.parquet"))
    assert len(olds) >= 2
    new = olds[0].parent / "part-9-compacted.parquet"
    table = pa.concat_tables([pq.read_table(p) for p in olds])
    db = fleet.lake.db
    relative = [p.relative_to(fleet.root).as_posix() for p in olds]
    new_relative = new.relative_to(fleet.root).as_posix()
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO compactions (new_path, old_paths) VALUES (?, ?)",
        (new_relative, json.dumps(relative)),
    )
    db.execute("INSERT INTO files VALUES (?, ?)", (new_relative, table.num_rows))
    db.execute("COMMIT")
    # New file not renamed into place yet: the old ones are what counts.
    mid = snapshot.read_snapshot(fleet.root)
    assert sum(pq.read_metadata(p).num_rows for p in mid.files) == rows_before
    pq.write_table(table, new)
    # New file in place, old ones not yet deleted: the new one counts.
    after = snapshot.read_snapshot(fleet.root)
    assert new in after.files and not set(olds) & set(after.files)
    assert sum(pq.read_metadata(p).num_rows for p in after.files) == rows_before


def test_polling_while_the_lake_is_written_and_compacted(serve, fleet):
    """A writer ingests and compacts while the API is polled: every answer is whole (200,
    records never more than were ingested by then and never fewer than before the poll)."""
    base = serve()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(12):
                at = fleet.now_ms - 4_000 + i * 100
                records = [
                    fleet.record("dev-a", "env/bme280@0x76", "raw", at, {"temperature_c": 21.0 + i})
                ]
                fleet.ingest("north", records, at)
                if i % 4 == 3:
                    fleet.lake.compact(min_files=2)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    while not done.is_set() or len(seen) < 3:
        low = len(fleet.records)
        status, doc = get(f"{base}/api/dashboard?range=all")
        high = fleet.attempted
        assert status == 200, doc
        assert low <= doc["fleet"]["records"] <= high
        seen.append(doc["fleet"]["records"])
    thread.join()
    assert errors == []
    status, doc = get(f"{base}/api/dashboard?range=all")
    assert doc["fleet"]["records"] == len(fleet.records)


@pytest.mark.slow
def test_command_line_serves_on_loopback(fleet):
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud.dashboard", "--lake", str(fleet.root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None else "")
        status, doc = get(f"http://127.0.0.1:{found.group(2)}/api/dashboard?range=all")
        assert status == 200 and doc["fleet"]["records"] == len(fleet.records)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_command_line_refuses_bad_settings(fleet):
    done = subprocess.run(
        [sys.executable, "-m", "cloud.dashboard", "--lake", str(fleet.root),
         "--refresh-seconds", "0"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2 and "FAIL" in done.stderr
