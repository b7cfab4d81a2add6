"""Every console command fits a terminal of 80 and of 120 columns without splitting a value
(a number, a name, a time): checked against the tables the command shows, with the oracle in
screen.py, on the site of console_world.py (an outage, evictions, a faulty sensor)."""

from __future__ import annotations

import io
import json
import socket

import pytest
from rich.console import Console
from screen import assert_whole_values

from components.console import config as console_config
from components.console import doctor, status, verify
from components.console.__main__ import main
from components.console.logview import open_log
from components.console.views import (
    doctor_table,
    fmt_reading,
    stats_tables,
    status_tables,
    verify_tables,
)
from components.core.log import Log

WIDTHS = (80, 120)


def _run(argv: list[str], width: int, clock) -> str:
    buf = io.StringIO()
    main(argv, clock=clock, console=Console(file=buf, width=width, color_system=None))
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _synced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "timedatectl_synced", lambda: True)


@pytest.mark.parametrize("width", WIDTHS)
def test_status(site, width):
    cfg = console_config.load(site.config_file)
    tables = status_tables(status.build_status(status.gather(cfg, site.clock, "dev-001"), cfg))
    text = _run(["status", "--config", str(site.config_file)], width, site.clock)
    assert_whole_values(text, tables, width)
    with Log.open(site.path, device="dev-001", free_floor_bytes=0) as lg:
        raw_backlog = lg.stats()["backlog"]["uplink-kinesis"]["raw"]["records"]
    assert raw_backlog > 10_000
    assert f"{raw_backlog:,}" in text  # the raw backlog, grouped


@pytest.mark.parametrize("width", WIDTHS)
def test_buffer_stats_and_verify(site, width):
    cfg = console_config.load(site.config_file)
    lg = open_log(cfg, site.clock, "dev-001")
    try:
        tables = stats_tables(lg.stats(), lg.streams())
    finally:
        lg.close()
    text = _run(["buffer", "stats", "--config", str(site.config_file)], width, site.clock)
    assert_whole_values(text, tables, width)
    text = _run(["buffer", "verify", "--config", str(site.config_file)], width, site.clock)
    assert_whole_values(text, verify_tables(verify.run(cfg.logPath)), width)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.slow
def test_doctor_keeps_each_path_whole(site, tmp_path, monkeypatch, width):
    """A long socket path used to wrap so an existing socket read as missing."""
    cfg = console_config.load(site.config_file)
    root = tmp_path / "greengrass"
    root.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "ipc.socket"))
    server.listen()
    lg = open_log(cfg, site.clock, "dev-001")
    try:
        stats = lg.stats()
    finally:
        lg.close()
    try:
        # One look at the machine for both the command and the oracle (free disk space
        # moves between two looks on a shared machine).
        facts = doctor.gather(cfg, stats, None)
        monkeypatch.setattr(doctor, "gather", lambda *_a, **_k: facts)
        text = _run(["doctor", "--config", str(site.config_file)], width, site.clock)
        results = doctor.run_checks(facts)
    finally:
        server.close()
    assert_whole_values(text, [doctor_table(results)], width)
    line = next(ln for ln in text.splitlines() if "ipc.socket" in ln)
    assert f"{root}/ipc.socket" in line and "answers" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_sensor_readings_in_engineering_units(tmp_path, monkeypatch, width):
    scenario = {
        "seed": 1,
        "chips": [
            {
                "chip": "bme280",
                "address": "0x76",
                "signals": {"pressure_pa": {"base": 101_325.0}, "temperature_c": {"base": 20.5}},
            }
        ],
    }
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario))
    monkeypatch.setenv("FLOORLINE_I2C_BUS", "sim")
    monkeypatch.setenv("FLOORLINE_SIM_SCENARIO", str(path))
    from components.core.clock import ManualClock

    clock = ManualClock()
    buf = io.StringIO()
    main(
        ["sensors", "scan"],
        clock=clock,
        sleep=clock.advance,
        console=Console(file=buf, width=width, color_system=None),
    )
    text = buf.getvalue()
    assert "e+" not in text and "hPa" in text and "°C" in text
    line = next(ln for ln in text.splitlines() if "pressure_pa=" in ln)
    hpa = float(line.split("pressure_pa=")[1].split("hPa")[0])
    assert hpa == pytest.approx(1013.25, abs=1.0)


def test_reading_formats():
    assert fmt_reading("pressure_pa", 101_325.0) == "pressure_pa=1013.2hPa"
    assert fmt_reading("current_a", 0.25) == "current_a=250.0mA"
    assert fmt_reading("current_a", 2.5) == "current_a=2.500A"
    assert fmt_reading("count", 1_234_567) == "count=1234567"
    assert fmt_reading("energy_j", 123_456.7) == "energy_j=123,457"
    assert fmt_reading("state", "ok") == "state=ok"
