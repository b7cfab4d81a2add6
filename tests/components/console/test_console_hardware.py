"""`sensors scan`, `sensors watch` on edge_sim's emulated I2C bus (register-level chip models,
selected the way a device selects its bus: FLOORLINE_I2C_BUS=sim); `rfid test` on a real
pseudo-terminal with frames written by the reader side."""

import json
import os
import pty
import re
import threading
import tty

import pytest

from components.console.__main__ import main
from components.core.clock import ManualClock
from components.lib.frames import rdm6300, uhf_m100

SCENARIO = {
    "seed": 3,
    "chips": [
        {
            "chip": "bme280",
            "address": "0x76",
            "signals": {
                "temperature_c": {"base": 23.25},
                "humidity_pct": {"base": 47.0},
                "pressure_pa": {"base": 100_500.0},
            },
        },
        {
            "chip": "sht3x",
            "address": "0x44",
            "signals": {"temperature_c": {"base": 18.5}, "humidity_pct": {"base": 61.0}},
        },
    ],
}


@pytest.fixture
def sim_bus(tmp_path, monkeypatch):
    def use(scenario):
        path = tmp_path / "scenario.json"
        path.write_text(json.dumps(scenario))
        monkeypatch.setenv("FLOORLINE_I2C_BUS", "sim")
        monkeypatch.setenv("FLOORLINE_SIM_SCENARIO", str(path))

    return use


def _value(text, stream, key):
    line = next(ln for ln in text.splitlines() if stream in ln and f"{key}=" in ln)
    return float(re.search(rf"{key}=([-0-9.e+]+)", line).group(1))


def test_scan_identifies_and_reads_each_chip(sim_bus, captured):
    sim_bus(SCENARIO)
    clock = ManualClock()
    rc = main(["sensors", "scan"], clock=clock, sleep=clock.advance, console=captured.console)
    text = captured.text
    assert rc == 0, text
    assert "0x76" in text and "bme280" in text and "0x44" in text and "sht3x" in text
    assert _value(text, "env/bme280@0x76", "temperature_c") == pytest.approx(23.25, abs=0.05)
    assert _value(text, "env/sht3x@0x44", "humidity_pct") == pytest.approx(61.0, abs=0.1)


def test_scan_of_an_empty_bus_fails_with_a_remedy(sim_bus, captured):
    sim_bus({"chips": []})
    clock = ManualClock()
    rc = main(["sensors", "scan"], clock=clock, sleep=clock.advance, console=captured.console)
    assert rc == 2 and "no chip answered" in captured.text and "doctor" in captured.text


def test_watch_prints_live_values_and_reports_an_unplugged_chip(sim_bus, captured):
    scenario = json.loads(json.dumps(SCENARIO))
    scenario["chips"][1]["faults"] = [{"kind": "unplugged", "startSeconds": 5, "endSeconds": 1000}]
    sim_bus(scenario)
    clock = ManualClock()
    rc = main(
        ["sensors", "watch", "--interval", "2", "--count", "4"],
        clock=clock,
        sleep=clock.advance,
        console=captured.console,
    )
    lines = captured.text.splitlines()
    assert rc == 0
    bme = [ln for ln in lines if "env/bme280@0x76" in ln]
    sht = [ln for ln in lines if "env/sht3x@0x44" in ln]
    assert len(bme) == 4 and all("temperature_c=" in ln for ln in bme)
    assert "humidity_pct=" in sht[0]  # before it was unplugged
    assert any("OSError" in ln or "Error" in ln for ln in sht[1:])  # after: the error, shown


def test_no_bus_exits_3(captured, monkeypatch):
    monkeypatch.delenv("FLOORLINE_I2C_BUS", raising=False)
    assert main(["sensors", "scan", "--bus", "97"], console=captured.console) == 3
    assert "cannot open the I2C bus" in captured.text


# --------------------------------------------------------------------------- RFID on a pty
@pytest.fixture
def reader_pty():
    master, slave = pty.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def _keep_sending(master, data):
    """The reader repeats its frames (pyserial flushes what arrived before the port opened)."""
    stop = threading.Event()

    def run():
        while not stop.wait(0.2):
            os.write(master, data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return stop


def test_rfid_test_shows_good_and_bad_frames(reader_pty, captured):
    master, port = reader_pty
    bad = bytearray(rdm6300.encode("0011223344"))
    bad[-3:-1] = b"00" if bad[-3:-1] != b"00" else b"FF"  # wrong XOR checksum
    stop = _keep_sending(master, bytes(bad) + rdm6300.encode("0A1B2C3D4E"))
    try:
        rc = main(
            ["rfid", "test", "--port", port, "--seconds", "20", "--count", "2"],
            console=captured.console,
        )
    finally:
        stop.set()
    text = captured.text
    assert text.count("GOOD tag 0A1B2C3D4E") == 2
    assert "1 distinct tag (0A1B2C3D4E) in 2 good reads" in text  # one tag, read twice
    assert "BAD" in text and "bad_checksum" in text
    assert rc == 1  # tags decoded, but bad frames seen: a warning


def test_rfid_test_polls_a_uhf_reader(reader_pty, captured):
    master, port = reader_pty
    epc = bytes.fromhex("E28011606000020D6A8B1C2D")

    def reader():  # answers the first inventory poll like the module does
        buf = b""
        poll = uhf_m100.single_poll_command()
        while poll not in buf:
            buf += os.read(master, 64)
        os.write(master, uhf_m100.tag_notice(epc, rssi_raw=0xC8))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    rc = main(
        ["rfid", "test", "--port", port, "--model", "uhf_m100", "--seconds", "20", "--count", "1"],
        console=captured.console,
    )
    t.join(timeout=5)
    assert rc == 0, captured.text
    assert f"GOOD tag {epc.hex().upper()}" in captured.text and "rssi" in captured.text


def test_rfid_test_with_silence_fails_with_a_remedy(reader_pty, captured):
    _, port = reader_pty
    rc = main(["rfid", "test", "--port", port, "--seconds", "0.5"], console=captured.console)
    assert rc == 2 and "no tag decoded" in captured.text and "--baud" in captured.text


def test_rfid_test_on_a_missing_port_exits_3(captured):
    rc = main(["rfid", "test", "--port", "/dev/ttyNOPE9"], console=captured.console)
    assert rc == 3 and "dialout" in captured.text


def test_identify_only_reads_nothing(sim_bus, captured):
    sim_bus(SCENARIO)
    clock = ManualClock()
    rc = main(
        ["sensors", "scan", "--identify-only"],
        clock=clock,
        sleep=clock.advance,
        console=captured.console,
    )
    assert rc == 0 and "bme280" in captured.text and "sht3x" in captured.text
    assert "temperature_c=" not in captured.text
