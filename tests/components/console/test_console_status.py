import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from console_world import BME, DEVICE, OUTAGE_S, build_site, components_running

from components.console import config as console_config
from components.console import status
from components.console.__main__ import main
from components.console.levels import EXIT_CANNOT_RUN, EXIT_USAGE, Level
from components.core.envelope import CLASSES


def _report(site, **overrides):
    cfg = console_config.load(site.config_file, overrides)
    facts = status.gather(cfg, site.clock, DEVICE)
    facts.ntp_synced = True  # the host's timedatectl is not what these tests are about
    return status.build_status(facts, cfg), cfg


@pytest.mark.slow
def test_status_of_a_site_in_an_outage_with_a_faulty_sensor(site):
    report, _ = _report(site)
    lg = site.open()
    try:
        stats, evictions = lg.stats(), lg.evictions()
        # independent oracle for the backlog: what the uplink consumers would be handed now
        unsent = sum(len(lg.read(c, limit=10**6)) for c in ("uplink-iot", "uplink-kinesis"))
    finally:
        lg.close()
    assert report["level"] == "FAIL"
    assert report["led"]["state"] == "fault"
    assert any("health/bme280@0x76" in r for r in report["led"]["reasons"])
    # buffer depth per class is what the log holds
    held = {c["cls"]: c["records"] for c in report["buffer"]["classes"]}
    assert held == {cls: stats["classes"][cls]["records"] for cls in CLASSES}
    # uplink: offline, backlog and ages from the outage
    up = report["uplink"]
    assert up["level"] == "WARN" and up["detail"].startswith("offline")
    assert up["backlog_records"] == unsent
    assert up["last_uplink_age_s"] == pytest.approx(OUTAGE_S, abs=1)
    assert up["oldest_unsent_age_s"] >= OUTAGE_S - 1
    # drops: every eviction the log recorded, by class and reason
    dropped = sum(d["records"] for d in report["drops"]["rows"] if d["what"].startswith("evicted"))
    assert dropped == sum(e["count"] for e in evictions) > 0
    # sensors: bme280 faulty, sht3x recovered, the reader undecided, vib without reports
    rows = {r["stream"]: r for r in report["sensors"]}
    assert rows[BME]["state"] == "faulty" and rows[BME]["level"] == "FAIL"
    assert rows["sht3x@0x44"]["state"] == "ok"  # health only, no data stream held
    assert rows["rfid/rdm6300@ttyS0"]["state"] == "unknown"
    assert rows["vib/adxl345@0x53"]["state"] == "unknown"
    assert rows["vib/adxl345@0x53"]["detail"] == "no health reported by its component"
    assert "agg/bme280@0x76" not in rows and "alert/bme280@0x76" not in rows
    # components: nothing reports, nothing is claimed
    assert {c["state"] for c in report["components"]} == {"unknown"}


@pytest.mark.slow
def test_healthy_site_is_online_and_ok(tmp_path):
    site = build_site(tmp_path, outage=False)
    report, _ = _report(site)
    # Nothing says the components run: that alone is not "OK".
    assert report["level"] == "WARN"
    assert all(
        c["level"] == "WARN" and "never reported" in c["detail"] for c in report["components"]
    )
    components_running(site)
    report, _ = _report(site)
    assert report["led"]["state"] == "online"
    assert report["uplink"]["backlog_records"] == 3  # the health records are not yet sent
    assert report["drops"]["rows"] == []
    assert [c["state"] for c in report["components"]] == ["RUNNING", "RUNNING"]
    assert report["level"] == "OK"


@pytest.mark.parametrize(
    ("ntp", "wall", "level"),
    [
        (True, 1_800_000_000_000, Level.OK),
        (False, 1_800_000_000_000, Level.WARN),
        (None, 1_800_000_000_000, Level.UNKNOWN),
        (None, 1_000, Level.WARN),  # 1970: certainly not synced
    ],
)
def test_clock_section(ntp, wall, level):
    assert status.clock_section(ntp, wall)["level"] == level.name


# --------------------------------------------------------------------------- the CLI
def test_cli_status_exit_codes_follow_the_verdict(tmp_path, captured, monkeypatch):
    monkeypatch.setattr(status, "timedatectl_synced", lambda: True)
    faulty = build_site(tmp_path / "a")
    assert (
        main(
            ["status", "--config", str(faulty.config_file)],
            clock=faulty.clock,
            console=captured.console,
        )
        == 2
    )
    assert "fault" in captured.text and "env/bme280@0x76" in captured.text
    offline = build_site(tmp_path / "b", fault=False)
    assert (
        main(
            ["status", "--config", str(offline.config_file)],
            clock=offline.clock,
            console=captured.console,
        )
        == 1
    )
    healthy = build_site(tmp_path / "c", outage=False)
    components_running(healthy)
    assert (
        main(
            ["status", "--config", str(healthy.config_file)],
            clock=healthy.clock,
            console=captured.console,
        )
        == 0
    )


def test_cli_status_json_is_the_report(site, captured, monkeypatch):
    monkeypatch.setattr(status, "timedatectl_synced", lambda: True)
    rc = main(
        ["status", "--json", "--config", str(site.config_file)],
        clock=site.clock,
        console=captured.console,
    )
    data = json.loads(captured.text)
    assert rc == 2 and data["device"] == DEVICE and data["led"]["state"] == "fault"


def test_missing_log_exits_3_and_creates_nothing(tmp_path, captured):
    missing = tmp_path / "nothing" / "log.db"
    rc = main(["status", "--log", str(missing)], console=captured.console)
    assert rc == EXIT_CANNOT_RUN and "no log" in captured.text and "remedy" in captured.text
    assert not missing.exists() and not missing.parent.exists()


def test_not_a_floorline_log_exits_3(tmp_path, captured):
    other = tmp_path / "other.db"
    other.write_bytes(b"hello, not sqlite" * 100)
    assert main(["buffer", "stats", "--log", str(other)], console=captured.console) == 3
    assert other.read_bytes() == b"hello, not sqlite" * 100  # never salvaged by the console


def test_bad_configuration_exits_3(tmp_path, captured):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"port": "eighty", "logPth": "/x"}))
    assert main(["status", "--config", str(cfg)], console=captured.console) == 3
    assert "port" in captured.text and "logPth" in captured.text


def test_usage_errors_exit_64(captured):
    with pytest.raises(SystemExit) as exc:
        main(["buffer", "frobnicate"], console=captured.console)
    assert exc.value.code == EXIT_USAGE


def test_buffer_stats(site, captured):
    assert (
        main(
            ["buffer", "stats", "--json", "--config", str(site.config_file)],
            clock=site.clock,
            console=captured.console,
        )
        == 0
    )
    data = json.loads(captured.text)
    assert {s["stream"] for s in data["streams"]} >= {BME, "vib/adxl345@0x53"}
    assert data["stats"]["counters"]["retired.raw"] == 1800


@pytest.mark.slow
def test_console_script_as_a_process(site):
    """The installed entry point, as a script would run it: exit code and JSON on stdout."""
    env = {
        **os.environ,
        "FLOORLINE_CONSOLE_CONFIG": str(site.config_file),
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "components.console", "buffer", "verify", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["level"] == "OK"
