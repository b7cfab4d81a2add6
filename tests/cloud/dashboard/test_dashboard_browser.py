"""The dashboard in headless Chromium (Selenium): charts drawn, the offline list agrees with the
lake's state, filters change what is shown, and data ingested meanwhile appears on refresh.

Needs the Debian packages `chromium` and `chromium-driver` (scripts/install-system-deps.sh).
Selenium is handed both binaries, so selenium-manager never looks for or downloads a driver.
Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

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
    except Exception as exc:  # TimeoutException: keep the page for the post-mortem
        shot(driver, f"timeout-{what.replace(' ', '-')}")
        error = driver.find_element(By.ID, "error").text
        raise AssertionError(f"timed out waiting for {what} (page error: {error!r})") from exc


def chart(driver: WebDriver, name: str) -> tuple[int, list[str]]:
    """(data-series-count, names of the drawn series paths) of one chart."""
    svg = driver.find_element(By.CSS_SELECTOR, f"svg#chart-{name}")
    paths = svg.find_elements(By.CSS_SELECTOR, "path.series")
    return int(svg.get_attribute("data-series-count")), sorted(
        p.get_attribute("data-series") for p in paths
    )


def offline_list(driver: WebDriver) -> set[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#offline-list tr.offline-device")
    return {row.get_attribute("data-device") for row in rows}


def renders(driver: WebDriver) -> int:
    return int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-renders"))


def test_dashboard_in_chromium(browser: WebDriver, serve, fleet, settings):
    base = serve(refresh_s=0.5)
    browser.get(f"{base}/?range=1h")
    wait_for(browser, "first render", lambda d: renders(d) >= 1)

    # Charts: one series per device (temperature, supply), per severity, per RFID reader.
    assert chart(browser, "temperature") == (3, ["dev-a", "dev-b", "dev-c"])
    assert chart(browser, "supply") == (3, ["dev-a", "dev-b", "dev-c"])
    assert chart(browser, "alerts") == (3, ["critical", "info", "warning"])
    assert chart(browser, "rfid") == (
        2,
        ["dev-a rfid/rdm6300@ttyS0", "dev-c rfid/rdm6300@ttyUSB0"],
    )
    # The offline list is the lake's own state, older than the threshold.
    expected_offline = fleet.offline(fleet.now_ms, settings.offline_after_s)
    assert expected_offline == {"dev-c"}
    assert offline_list(browser) == expected_offline
    flags = browser.find_elements(By.CSS_SELECTOR, "#anomalies tbody tr")
    assert sorted(row.find_elements(By.TAG_NAME, "td")[0].text for row in flags) == [
        "dev-a",
        "dev-c",
    ]
    shot(browser, "1-fleet")

    # Filter by site: only north's devices, nobody offline there.
    Select(browser.find_element(By.ID, "site")).select_by_value("north")
    wait_for(browser, "site filter", lambda d: chart(d, "temperature")[0] == 2)
    assert chart(browser, "temperature") == (2, ["dev-a", "dev-b"])
    assert offline_list(browser) == set()
    assert "site=north" in browser.current_url
    device_options = [
        o.get_attribute("value")
        for o in Select(browser.find_element(By.ID, "device")).options
        if o.get_attribute("value")
    ]
    assert device_options == ["dev-a", "dev-b"]
    # ... and by device.
    Select(browser.find_element(By.ID, "device")).select_by_value("dev-b")
    wait_for(browser, "device filter", lambda d: chart(d, "temperature")[1] == ["dev-b"])
    health_rows = browser.find_elements(By.CSS_SELECTOR, "#health tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in health_rows] == ["dev-b"]
    assert "not_responding" in health_rows[0].text
    shot(browser, "2-filtered-dev-b")

    # Back to the whole fleet; the silent device comes back and a new one joins, while the
    # page keeps polling.
    Select(browser.find_element(By.ID, "site")).select_by_value("")
    wait_for(browser, "all sites again", lambda d: chart(d, "temperature")[0] == 3)
    now = fleet.now_ms
    back = fleet.device_readings(
        "dev-c", now - 4 * 60_000, now - 1_000, base_c=19.5, slope_c_per_min=0.1, volts=12.1
    )
    fleet.ingest("south", back, now - 500)
    new = fleet.device_readings(
        "dev-d", now - 3 * 60_000, now - 1_000, base_c=22.0, slope_c_per_min=0.0, volts=11.9
    )
    fleet.ingest("south", new, now - 500)
    wait_for(browser, "new device", lambda d: chart(d, "temperature")[0] == 4)
    assert chart(browser, "temperature") == (4, ["dev-a", "dev-b", "dev-c", "dev-d"])
    wait_for(browser, "offline list to clear", lambda d: offline_list(d) == set())
    assert fleet.offline(fleet.now_ms, settings.offline_after_s) == set()
    shot(browser, "3-after-ingest")
