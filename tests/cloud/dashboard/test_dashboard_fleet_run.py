"""The dashboard in Chromium during an edge_sim run: the lake is written by the simulation's
cloud side while the page polls it; the page follows, and at the end it agrees with the lake."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cloud.dashboard import model
from cloud.dashboard.server import App, make_server
from cloud.lake.query import query
from cloud.lake.store import Lake
from components.core.clock import SystemClock
from edge_sim.fleet import Fleet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEVICES = 2
RUN_S = 25


def records(page) -> int:
    return int(page.tile("records in range"))


def test_dashboard_follows_an_edge_sim_run(tmp_path: Path, page):
    fleet = Fleet(tmp_path / "fleet", DEVICES, seed=11)
    app = App(lake_root=fleet.out / "lake", clock=SystemClock(),
              settings=model.Settings(offline_after_s=120), refresh_s=1.0)  # fmt: skip
    server = make_server(app)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    runner: threading.Thread | None = None
    try:
        fleet.start()
        runner = threading.Thread(target=fleet.run, args=(RUN_S,))
        runner.start()
        page.open(f"http://{host}:{port}/?range=15m")
        page.wait_for(
            "devices in the temperature chart",
            lambda p: p.renders() >= 1 and p.chart("temperature")[0] == DEVICES,
        )
        first = records(page)
        page.wait_for("more records while the fleet runs", lambda p: records(p) > first)
        page.shot("fleet-run-live")
        runner.join()
        runner = None
        fleet.drain(60)
    finally:
        if runner is not None:
            runner.join()
        fleet.stop()
    with Lake(fleet.out / "lake", clock=SystemClock()) as lake:
        _, rows = query(lake, "SELECT count(*) FROM telemetry")
        total = rows[0][0]
        state = lake.latest_state()
    page.open(f"http://{host}:{port}/?range=all")
    page.wait_for("the final count", lambda p: p.renders() >= 1 and records(p) == total)
    assert page.chart("temperature") == (DEVICES, sorted(state))
    assert page.chart("supply")[0] == DEVICES
    assert page.offline_list() == set()  # every device was ingested moments ago
    page.shot("fleet-run-final")
    server.shutdown()
    server.server_close()
