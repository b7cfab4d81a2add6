"""A small fleet written into a real lake (Lake.ingest_records), with its own expectations
computed from the records themselves (the oracle the dashboard is checked against)."""

from __future__ import annotations

import os
import statistics
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from cloud.dashboard import model
from cloud.dashboard.server import App, make_server
from cloud.lake.store import Lake
from components.core.clock import ManualClock
from components.core.envelope import Record

NOW_MS = 1_795_000_000_000 + 3_600_000  # the dashboard's "now"
OFFLINE_AFTER_S = 300.0
TEMPERATURE = "env/bme280@0x76"
SECOND_TEMPERATURE = "env/sht3x@0x44"  # also has temperature_c; not the drift chart's sensor
POWER = "power/ina219@0x40"


@dataclass
class Fleet:
    root: Path
    lake: Lake
    lake_clock: ManualClock
    now_ms: int = NOW_MS  # the dashboard's clock
    records: list[tuple[str, Record]] = field(default_factory=list)  # once ingested
    attempted: int = 0  # records handed to the lake, counted before the call
    _seqs: dict[tuple[str, str], int] = field(default_factory=dict)

    def record(self, device: str, stream: str, cls: str, wall_ms: int,
               payload: dict[str, Any]) -> Record:  # fmt: skip
        key = (device, stream)
        self._seqs[key] = self._seqs.get(key, 0) + 1
        return Record(device=device, stream=stream, seq=self._seqs[key], cls=cls,
                      mono_ns=wall_ms * 1_000_000, wall_ms=wall_ms, clock_synced=True,
                      payload=payload)  # fmt: skip

    def ingest(self, site: str, records: list[Record], at_ms: int) -> None:
        self.lake_clock.set_wall(at_ms)
        self.attempted += len(records)
        self.lake.ingest_records(site, records)
        self.records.extend((site, r) for r in records)

    def device_readings(self, device: str, start_ms: int, end_ms: int, *, base_c: float,
                        slope_c_per_min: float, volts: float, step_ms: int = 30_000
                        ) -> list[Record]:  # fmt: skip
        out = []
        for i, wall_ms in enumerate(range(start_ms, end_ms, step_ms)):
            minutes = (wall_ms - start_ms) / 60_000
            out.append(
                self.record(
                    device,
                    TEMPERATURE,
                    "raw",
                    wall_ms,
                    {
                        "temperature_c": base_c + slope_c_per_min * minutes,
                        "pressure_pa": 101_325.0,
                        "humidity_pct": 40.0 + (i % 5),
                    },
                )
            )
            out.append(
                self.record(
                    device,
                    SECOND_TEMPERATURE,
                    "raw",
                    wall_ms + 7,
                    {"temperature_c": base_c + 50.0, "humidity_pct": 45.0},
                )
            )
            out.append(self.record(device, POWER, "raw", wall_ms + 11, {
                "bus_voltage_v": volts - 0.001 * i, "current_a": 0.8,
                "power_w": volts * 0.8}))  # fmt: skip
        return out

    # ---- oracles ---------------------------------------------------------------------------

    def where(self, *, site: str | None = None, device: str | None = None,
              start_ms: int = 0, end_ms: int = 1 << 62) -> list[Record]:  # fmt: skip
        return [
            r for s, r in self.records
            if (site is None or s == site) and (device is None or r.device == device)
            and start_ms <= r.event_wall_ms < end_ms
        ]  # fmt: skip

    def mean(self, records: list[Record], stream: str, key: str) -> float:
        return statistics.fmean(r.payload[key] for r in records if r.stream == stream)

    def offline(self, now_ms: int, threshold_s: float) -> set[str]:
        """From the lake's own state table (the writer's API), not from the dashboard."""
        cutoff = now_ms - threshold_s * 1000
        return {d for d, item in self.lake.latest_state().items() if item["last_seen_ms"] < cutoff}


def build_scenario(fleet: Fleet) -> None:
    """north: dev-a, dev-b (online); south: dev-c (silent for 30 min, so offline).

    Alerts: dev-a an open warning (novelty), dev-b a critical raised then cleared, dev-c an
    open info. Health: dev-b's bme280 not responding. RFID readers on dev-a and dev-c.
    """
    start = NOW_MS - 40 * 60_000
    recent = NOW_MS - 5_000
    a = fleet.device_readings("dev-a", start, recent, base_c=21.0, slope_c_per_min=0.05,
                              volts=12.0)  # fmt: skip
    a += [fleet.record("dev-a", "health/bme280@0x76", "health", NOW_MS - 60_000,
                       {"event": "sensor_stats", "sensor": TEMPERATURE, "state": "ok"}),
          fleet.record("dev-a", "alert_env/bme280@0x76", "alert", NOW_MS - 10 * 60_000,
                       {"alert_id": "a-novelty-1", "state": "raised", "severity": "warning",
                        "condition": "novel", "detector": "novelty", "reason": "unusual",
                        "value": 23.1})]  # fmt: skip
    a += [fleet.record("dev-a", "rfid/rdm6300@ttyS0", "event", start + k * 120_000,
                       {"event": "arrive" if k % 2 == 0 else "depart", "tag_id": f"0A{k % 3}"})
          for k in range(18)]  # fmt: skip
    fleet.ingest("north", a, recent)

    b = fleet.device_readings("dev-b", start, recent, base_c=24.0, slope_c_per_min=-0.02,
                              volts=11.5)  # fmt: skip
    b += [fleet.record("dev-b", "health/bme280@0x76", "health", NOW_MS - 60_000,
                       {"event": "sensor_stats", "sensor": TEMPERATURE,
                        "state": "not_responding"}),
          fleet.record("dev-b", "alert_power/ina219@0x40", "alert", NOW_MS - 20 * 60_000,
                       {"alert_id": "b-low-1", "state": "raised", "severity": "critical",
                        "condition": "low", "detector": "threshold", "value": 10.9}),
          fleet.record("dev-b", "alert_power/ina219@0x40", "alert", NOW_MS - 15 * 60_000,
                       {"alert_id": "b-low-1", "state": "cleared", "severity": "critical",
                        "condition": "low", "detector": "threshold", "value": 11.6})]  # fmt: skip
    fleet.ingest("north", b, recent)

    silent_since = NOW_MS - 30 * 60_000
    c = fleet.device_readings("dev-c", start, silent_since, base_c=19.0, slope_c_per_min=0.1,
                              volts=12.2)  # fmt: skip
    c += [fleet.record("dev-c", "alert_device/self", "alert", start + 60_000,
                       {"alert_id": "c-info-1", "state": "raised", "severity": "info",
                        "condition": "restart", "detector": "health"})]  # fmt: skip
    c += [fleet.record("dev-c", "rfid/rdm6300@ttyUSB0", "event", start + k * 60_000,
                       {"event": "arrive", "tag_id": f"0C{k}"}) for k in range(8)]  # fmt: skip
    fleet.ingest("south", c, silent_since)


def _fleet(folder: Path) -> Iterator[Fleet]:
    clock = ManualClock(wall_ms=NOW_MS)
    with Lake(folder / "lake", clock=clock) as lake:
        built = Fleet(root=folder / "lake", lake=lake, lake_clock=clock)
        build_scenario(built)
        yield built


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """The scenario in a fresh lake (tests that write to it)."""
    yield from _fleet(tmp_path)


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The scenario, built once per module, for tests that only read."""
    yield from _fleet(tmp_path_factory.mktemp("fleet"))


@pytest.fixture
def settings() -> model.Settings:
    return model.Settings(offline_after_s=OFFLINE_AFTER_S, temperature_stream="env/bme280@%")


@pytest.fixture
def serve(fleet: Fleet, settings: model.Settings) -> Iterator[Callable[..., str]]:
    """Starts the dashboard over the fleet's lake on a free loopback port; returns its URL."""
    servers = []

    def start(refresh_s: float = 5.0) -> str:
        app = App(lake_root=fleet.root, clock=ManualClock(wall_ms=NOW_MS), settings=settings,
                  refresh_s=refresh_s)  # fmt: skip
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- the browser (headless Chromium through Selenium) ---------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
WAIT_S = 30
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,2400",
)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"browser tests need {' and '.join(missing)}: install the Debian packages "
            "chromium and chromium-driver (scripts/install-system-deps.sh)",
            pytrace=False,
        )
    monkeypatch.setenv("SE_OFFLINE", "true")  # belt and braces: selenium-manager stays offline
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(driver: WebDriver, what: str, check: Callable[[WebDriver], Any]) -> Any:
    """Waits until `check` gives something truthy; a timeout names what was awaited."""
    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(check)
    except TimeoutException as exc:  # keep the page for the post-mortem
        shot(driver, f"timeout-{what.replace(' ', '-')}")
        error = driver.execute_script('return document.getElementById("error").textContent')
        raise AssertionError(f"timed out waiting for {what} (page error: {error!r})") from exc


# The page re-renders on every poll; reading it in one script call sees one render (element
# handles kept across calls would go stale).
_CHART_JS = """
const svg = document.querySelector("svg#chart-" + arguments[0]);
if (!svg) return null;
return [Number(svg.getAttribute("data-series-count")),
        Array.from(svg.querySelectorAll("path.series"), (p) => p.getAttribute("data-series"))];
"""
_OFFLINE_JS = """
return Array.from(document.querySelectorAll("#offline-list tr.offline-device"),
                  (tr) => tr.getAttribute("data-device"));
"""
_COLUMN_JS = """
return Array.from(document.querySelectorAll("#" + arguments[0] + " tbody tr:not(.empty)"),
                  (tr) => tr.cells[arguments[1]].textContent);
"""


def chart(driver: WebDriver, name: str) -> tuple[int, list[str]]:
    """(data-series-count, names of the drawn series paths) of one chart."""
    found = driver.execute_script(_CHART_JS, name)
    if found is None:
        return (-1, [])
    return int(found[0]), sorted(found[1])


def offline_list(driver: WebDriver) -> set[str]:
    return set(driver.execute_script(_OFFLINE_JS))


def renders(driver: WebDriver) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.renders)"))


@dataclass
class Page:
    """The dashboard page in the browser, read the way a test needs it."""

    driver: WebDriver

    def open(self, url: str) -> None:
        self.driver.get(url)

    def shot(self, name: str) -> None:
        shot(self.driver, name)

    def wait_for(self, what: str, check: Callable[[Page], Any]) -> Any:
        return wait_for(self.driver, what, lambda _driver: check(self))

    def chart(self, name: str) -> tuple[int, list[str]]:
        return chart(self.driver, name)

    def offline_list(self) -> set[str]:
        return offline_list(self.driver)

    def renders(self) -> int:
        return renders(self.driver)

    def tile(self, label: str) -> str:
        script = "const b = document.querySelector(arguments[0]); return b && b.textContent;"
        return str(self.driver.execute_script(script, f'#fleet-tiles [data-tile="{label}"] b'))

    def column(self, table_id: str, index: int = 0) -> list[str]:
        return list(self.driver.execute_script(_COLUMN_JS, table_id, index))


@pytest.fixture
def page(browser: WebDriver) -> Page:
    return Page(browser)
