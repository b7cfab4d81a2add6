"""The dashboard in headless Chromium (Selenium): charts drawn, the offline list agrees with the
lake's state, filters change what is shown, and data ingested meanwhile appears on refresh.

Needs the Debian packages `chromium` and `chromium-driver` (scripts/install-system-deps.sh);
Selenium is handed both binaries (conftest `browser`), so selenium-manager never looks for or
downloads a driver. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


@pytest.mark.slow
def test_dashboard_in_chromium(page, serve, fleet, settings):
    base = serve(refresh_s=0.5)
    page.open(f"{base}/?range=1h")
    page.wait_for("first render", lambda p: p.renders() >= 1)

    # Charts: one series per device (temperature, supply), per severity, per RFID reader.
    assert page.chart("temperature") == (3, ["dev-a", "dev-b", "dev-c"])
    assert page.chart("supply") == (3, ["dev-a", "dev-b", "dev-c"])
    assert page.chart("alerts") == (3, ["critical", "info", "warning"])
    assert page.chart("rfid") == (2, ["dev-a rfid/rdm6300@ttyS0", "dev-c rfid/rdm6300@ttyUSB0"])
    # The offline list is the lake's own state, older than the threshold.
    expected_offline = fleet.offline(fleet.now_ms, settings.offline_after_s)
    assert expected_offline == {"dev-c"}
    assert page.offline_list() == expected_offline
    assert sorted(page.column("anomalies")) == ["dev-a", "dev-c"]
    # The history keeps the cleared one too, with how long it lasted (raised 20 min ago,
    # cleared 15 min ago); the open ones say so.
    assert sorted(page.column("anomaly-history")) == ["dev-a", "dev-b", "dev-c"]
    history = dict(
        zip(page.column("anomaly-history"), page.column("anomaly-history", 7), strict=True)
    )
    assert history["dev-b"] == "5 min"
    assert sorted(page.column("anomaly-history", 6)).count("open") == 2
    assert page.tile("records in range") == str(
        len(fleet.where(start_ms=fleet.now_ms - 3_600_000, end_ms=fleet.now_ms))
    )
    page.shot("1-fleet")

    # Filter by site: only north's devices, nobody offline there.
    driver = page.driver
    Select(driver.find_element(By.ID, "site")).select_by_value("north")
    page.wait_for("site filter", lambda p: p.chart("temperature")[0] == 2)
    assert page.chart("temperature") == (2, ["dev-a", "dev-b"])
    assert page.offline_list() == set()
    assert "site=north" in driver.current_url
    options = Select(driver.find_element(By.ID, "device")).options
    assert [o.get_attribute("value") for o in options if o.get_attribute("value")] == [
        "dev-a",
        "dev-b",
    ]
    # ... and by device.
    Select(driver.find_element(By.ID, "device")).select_by_value("dev-b")
    page.wait_for("device filter", lambda p: p.chart("temperature")[1] == ["dev-b"])
    assert page.column("health") == ["dev-b"]
    assert "not_responding" in page.column("health", 4)[0]
    page.shot("2-filtered-dev-b")

    # Back to the whole fleet; the silent device comes back and a new one joins while the page
    # keeps polling.
    Select(driver.find_element(By.ID, "site")).select_by_value("")
    page.wait_for("all sites again", lambda p: p.chart("temperature")[0] == 3)
    now = fleet.now_ms
    back = fleet.device_readings(
        "dev-c", now - 4 * 60_000, now - 1_000, base_c=19.5, slope_c_per_min=0.1, volts=12.1
    )
    fleet.ingest("south", back, now - 500)
    new = fleet.device_readings(
        "dev-d", now - 3 * 60_000, now - 1_000, base_c=22.0, slope_c_per_min=0.0, volts=11.9
    )
    fleet.ingest("south", new, now - 500)
    page.wait_for("the new device", lambda p: p.chart("temperature")[0] == 4)
    assert page.chart("temperature") == (4, ["dev-a", "dev-b", "dev-c", "dev-d"])
    page.wait_for("the offline list to clear", lambda p: p.offline_list() == set())
    assert fleet.offline(fleet.now_ms, settings.offline_after_s) == set()
    page.shot("3-after-ingest")
