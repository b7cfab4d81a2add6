"""The `sensors` component as a process against edge_sim's emulated bus: readings land in the
durable log; an absent chip and an unplugged chip show up as health records, never readings."""

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from components.core.log import Log

ROOT = Path(__file__).resolve().parents[3]

SCENARIO = {
    "seed": 11,
    "chips": [
        {
            "chip": "bme280",
            "address": "0x76",
            "signals": {
                "temperature_c": {"base": 21.5},
                "pressure_pa": {"base": 100500.0},
                "humidity_pct": {"base": 48.0},
            },
        },
        {
            "chip": "bme280",
            "address": "0x77",
            "faults": [{"kind": "unplugged", "startSeconds": 1.0, "endSeconds": 2.0}],
        },
        {
            "chip": "ina219",
            "address": "0x40",
            "signals": {"current_a": {"base": 0.5}, "bus_voltage_v": {"base": 12.0}},
        },
        {"chip": "ads1115", "address": "0x48", "signals": {"ain0_v": {"base": 1.8}}},
        {"chip": "adxl345", "address": "0x53"},
    ],
}

CONFIG = {
    "sampleIntervalSeconds": 0.1,
    "logBatchMaxRecords": 5,
    "logBatchMaxSeconds": 0.5,
    "reinitIntervalSeconds": 0.2,
    "publishLive": True,  # no nucleus in the environment: skipped, not failed
    "chips": [
        {"driver": "bme280", "address": "0x76"},
        {"driver": "bme280", "address": "0x77"},
        {"driver": "sht3x", "address": "0x45"},  # configured, but nothing is wired there
        {"driver": "ina219", "address": "0x40", "shuntOhm": 0.1, "maxExpectedAmps": 2.0},
        {
            "driver": "ads1115",
            "address": "0x48",
            "shuntOhm": 150,
            "low": 0,
            "high": 10,
            "unit": "m",
        },
        {"driver": "adxl345", "address": "0x53", "rateHz": 400, "windowSeconds": 0.1},
    ],
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sensors")
    (tmp / "scenario.json").write_text(json.dumps(SCENARIO))
    cfg = {**CONFIG, "logPath": str(tmp / "log.db")}
    (tmp / "config.json").write_text(json.dumps(cfg))
    env = {
        **os.environ,
        "FLOORLINE_I2C_BUS": "sim",
        "FLOORLINE_SIM_SCENARIO": str(tmp / "scenario.json"),
        "PYTHONPATH": str(ROOT),
        "AWS_IOT_THING_NAME": "press-07",
    }
    env.pop("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.sensors",
            "--config",
            str(tmp / "config.json"),
            "--run-seconds",
            "3.5",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    with Log.open(tmp / "log.db", device="press-07") as store:
        by_stream = defaultdict(list)
        for rec in store.snapshot_records():
            by_stream[rec.stream].append(rec)
    return by_stream


@pytest.mark.slow
def test_readings_reach_the_log_with_world_values(records):
    bme = records["env/bme280@0x76"]
    assert len(bme) >= 8 and all(r.cls == "raw" and r.device == "press-07" for r in bme)
    assert [r.seq for r in bme] == list(range(1, len(bme) + 1))  # gapless
    for r in bme:
        assert r.payload["temperature_c"] == pytest.approx(21.5, abs=0.01)
        assert r.payload["pressure_pa"] == pytest.approx(100500.0, abs=1.0)
        assert r.payload["humidity_pct"] == pytest.approx(48.0, abs=0.02)
    ina = records["power/ina219@0x40"]
    assert ina and all(r.payload["current_a"] == pytest.approx(0.5, abs=0.001) for r in ina)
    loop = records["loop/ads1115@0x48"]
    assert loop and all(
        r.payload["value"] == pytest.approx(5.0, abs=0.01) and r.payload["unit"] == "m"
        for r in loop
    )
    vib = records["vib/adxl345@0x53"]
    assert vib and all(r.payload["samples"] >= 40 and r.payload["rms_x_g"] > 0.1 for r in vib)
    mono = [r.mono_ns for r in bme]
    assert mono == sorted(mono)


@pytest.mark.slow
def test_absent_chip_is_one_health_record_and_no_readings(records):
    assert "env/sht3x@0x45" not in records
    [health] = records["health/sht3x@0x45"]
    assert health.cls == "health"
    assert health.payload["event"] == "sensor_fault" and health.payload["errno"] == 121


@pytest.mark.slow
def test_unplugged_chip_faults_recovers_and_has_a_reading_gap(records):
    events = [r.payload["event"] for r in records["health/bme280@0x77"]]
    assert events == ["sensor_fault", "sensor_recovered"]
    fault, back = records["health/bme280@0x77"]
    readings = records["env/bme280@0x77"]
    assert any(r.mono_ns < fault.mono_ns for r in readings)
    assert any(r.mono_ns > back.mono_ns for r in readings)
    assert not any(fault.mono_ns < r.mono_ns < back.mono_ns for r in readings)
    assert 0.5 < back.payload["down_s"] < 2.5  # unplugged for 1 s; detection takes a cycle


@pytest.mark.slow
def test_scan_command_reports_missing_and_found(tmp_path):
    (tmp_path / "scenario.json").write_text(json.dumps(SCENARIO))
    env = {
        **os.environ,
        "FLOORLINE_I2C_BUS": "sim",
        "FLOORLINE_SIM_SCENARIO": str(tmp_path / "scenario.json"),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "120",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.sensors",
            "scan",
            "--config-json",
            json.dumps({"chips": CONFIG["chips"]}),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1  # the SHT3x at 0x45 is configured but absent
    lines = {ln.split()[1]: ln for ln in proc.stdout.splitlines() if "0x" in ln}
    assert "MISSING" in lines["0x45"]
    assert "bme280" in lines["0x76"] and "OK" in lines["0x76"]
    assert "adxl345" in lines["0x53"] and "ina219" in lines["0x40"]


@pytest.mark.slow
def test_unavailable_real_bus_exits_with_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FLOORLINE_I2C_BUS"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.sensors",
            "--config-json",
            json.dumps({"i2cBus": 9, "logPath": str(tmp_path / "log.db")}),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "event=bus_unavailable" in proc.stderr


@pytest.mark.slow
def test_sigterm_commits_the_readings_still_waiting_for_their_batch(tmp_path):
    import signal

    from edge_sim.hardware.component_process import ComponentProcess

    (tmp_path / "scenario.json").write_text(json.dumps(SCENARIO))
    cfg = {
        "logPath": str(tmp_path / "log.db"),
        "sampleIntervalSeconds": 0.1,
        "logBatchMaxRecords": 500,
        "logBatchMaxSeconds": 600,  # nothing commits by itself
        "chips": [{"driver": "bme280", "address": "0x76"}],
    }
    env = {
        **os.environ,
        "FLOORLINE_I2C_BUS": "sim",
        "AWS_IOT_THING_NAME": "press-07",
        "FLOORLINE_SIM_SCENARIO": str(tmp_path / "scenario.json"),
    }
    proc = ComponentProcess("components.sensors", ["--config-json", json.dumps(cfg)], env)
    proc.wait_started()
    time.sleep(1.0)
    proc.proc.send_signal(signal.SIGTERM)  # what Greengrass sends to stop a component
    assert proc.wait() == 0, proc.stderr
    with Log.open(tmp_path / "log.db", device="press-07") as store:
        readings = [r for r in store.snapshot_records(("raw",))]
    stopped = next(ln for ln in proc.lines if "event=stopped" in ln)
    committed = json.loads(stopped.split("stats=", 1)[1])["committed"]
    assert len(readings) >= 5 and committed == len(readings)
