"""The dashboard in Chromium during an edge_sim run: the lake is written by the simulation's
cloud side while the page polls it; the page follows, and at the end it agrees with the lake."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
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
RUN_S = 12
STOP_DRAIN_S = 5.0


def records(page) -> int:
    return int(page.tile("records in range"))


@contextlib.contextmanager
def dashboard(lake_root: Path) -> Iterator[str]:
    """The dashboard over `lake_root` (which need not exist yet), on the system clock."""
    app = App(lake_root=lake_root, clock=SystemClock(),
              settings=model.Settings(offline_after_s=120), refresh_s=1.0)  # fmt: skip
    server = make_server(app)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        serving.join(timeout=5)


def test_dashboard_follows_an_edge_sim_run(tmp_path: Path, page):
    fleet = Fleet(tmp_path / "fleet", DEVICES, seed=11)
    with dashboard(fleet.out / "lake") as base:
        runner: threading.Thread | None = None
        try:
            fleet.start()
            runner = threading.Thread(target=fleet.run, args=(RUN_S,))
            runner.start()
            page.open(f"{base}/?range=15m")
            page.wait_for(
                "devices in the temperature chart",
                lambda p: p.renders() >= 1 and p.chart("temperature")[0] == DEVICES,
            )
            first = records(page)
            page.wait_for("more records while the fleet runs", lambda p: records(p) > first)
            page.shot("fleet-run-live")
            runner.join()
            runner = None
        finally:
            if runner is not None:
                runner.join()
            # The final check compares the page with whatever reached the lake; a full drain
            # is the e2e suite's business.
            fleet.stop(drain_s=STOP_DRAIN_S)
        with Lake(fleet.out / "lake", clock=SystemClock()) as lake:
            _, rows = query(lake, "SELECT count(*) FROM telemetry")
            total = rows[0][0]
            state = lake.latest_state()
        page.open(f"{base}/?range=all")
        page.wait_for("the final count", lambda p: p.renders() >= 1 and records(p) == total)
        assert page.chart("temperature") == (DEVICES, sorted(state))
        assert page.chart("supply")[0] == DEVICES
        assert page.offline_list() == set()  # every device was ingested moments ago
        page.shot("fleet-run-final")
