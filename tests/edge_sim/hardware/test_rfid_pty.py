"""Readers on real ptys, read by the third-party `rdm6300` package and by pyserial + our
decoders."""

import time

import pytest
import serial
from rdm6300 import Reader

from components.lib.frames.id12 import Id12Decoder
from components.lib.frames.uhf_m100 import UhfM100Decoder, single_poll_command
from edge_sim.hardware.rfid import PtyReader


def read_for(port: serial.Serial, decoder, seconds: float, poll: bytes | None = None):
    reads, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if poll:
            port.write(poll)
        reads += decoder.feed(port.read(256))
    return reads


def test_rdm6300_package_reads_our_reader():
    with PtyReader("rdm6300", repeat_s=0.05) as sim:
        sim.present("67003B51C6")
        card = Reader(sim.path).read(timeout=2)
    assert card is not None and card.is_valid
    assert (card.value, card.checksum, card.type) == (3887558, 0xCB, 0x67)


def test_id12_frames_with_noise_and_corruption_over_pyserial():
    with PtyReader("id12", repeat_s=0.03, seed=4, once_per_presentation=False) as sim:
        sim.set_noise(3.0)
        sim.corrupt_next(2)
        sim.present("0C000621A5")
        port = serial.serial_for_url(sim.path, baudrate=9600, timeout=0.05)
        dec = Id12Decoder()
        reads = read_for(port, dec, 0.6)
        port.close()
    assert reads and {r.tag_id for r in reads} == {"0C000621A5"}
    assert sim.frames_corrupted == 2
    assert sum(dec.stats.rejects.values()) >= 2
    assert dec.stats.bytes_discarded > 0


def test_uhf_reader_answers_polls():
    with PtyReader("uhf_m100") as sim:
        port = serial.serial_for_url(sim.path, baudrate=115200, timeout=0.05)
        dec = UhfM100Decoder()
        assert read_for(port, dec, 0.2, poll=single_poll_command()) == []
        assert dec.errors.get(0x15, 0) >= 1  # "no tag" answers
        sim.present("E2801160600002054D4B1A2B", rssi_dbm=-60)
        sim.present("300833B2DDD9014000000000", rssi_dbm=-48)
        reads = read_for(port, dec, 0.3, poll=single_poll_command())
        port.close()
    assert {r.tag_id for r in reads} == {"E2801160600002054D4B1A2B", "300833B2DDD9014000000000"}
    assert {r.rssi_dbm for r in reads} == {-60, -48}


def test_reader_plays_a_world_schedule():
    from edge_sim.world.tags import TagPass

    with PtyReader("rdm6300", repeat_s=0.05) as sim:
        sim.play([TagPass("0102030405", 0.0, 0.3), TagPass("0A0B0C0D0E", 0.4, 0.3)])
        port = serial.serial_for_url(sim.path, baudrate=9600, timeout=0.05)
        from components.lib.frames.rdm6300 import Rdm6300Decoder

        reads = read_for(port, Rdm6300Decoder(), 0.9)
        port.close()
    ids = [r.tag_id for r in reads]
    assert ids and set(ids) == {"0102030405", "0A0B0C0D0E"}
    assert ids.index("0A0B0C0D0E") > max(i for i, t in enumerate(ids) if t == "0102030405")


def test_scenario_readers_play_their_schedules():
    from components.lib.frames.rdm6300 import Rdm6300Decoder
    from edge_sim.hardware.readers import start_readers
    from edge_sim.world.tags import tag_passes

    scenario = {
        "seed": 3,
        "readers": [
            {
                "protocol": "rdm6300",
                "name": "dock1",
                "tagsPerHour": 36000,
                "dwellSeconds": 0.2,
                "repeatSeconds": 0.03,
            }
        ],
    }
    readers = start_readers(scenario)
    try:
        port = serial.serial_for_url(readers["dock1"].path, baudrate=9600, timeout=0.05)
        reads = read_for(port, Rdm6300Decoder(), 1.0)
        port.close()
    finally:
        for r in readers.values():
            r.stop()
    # Every tag read is one the world scheduled (a little slack for the port's start-up).
    scheduled = {p.tag_id for p in tag_passes(3, 1.5, per_hour=36000, dwell_s=0.2, key="dock1")}
    seen = {r.tag_id for r in reads}
    assert len(seen) >= 2 and seen <= scheduled


@pytest.mark.slow
def test_hardware_cli_brings_up_readers_and_stops_cleanly(tmp_path):
    import json
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    path = tmp_path / "scenario.json"
    path.write_text(
        json.dumps(
            {
                "seed": 1,
                "chips": [{"chip": "sht3x", "address": "0x44"}],
                "readers": [
                    {
                        "protocol": "rdm6300",
                        "name": "dock1",
                        "tagsPerHour": 36000,
                        "dwellSeconds": 0.5,
                    }
                ],
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_sim.hardware", str(path)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={"COLUMNS": "200", "PYTHONPATH": str(root)},
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("export"):
            break
    pty = next(ln.split()[-2] for ln in lines if "dock1" in ln)
    port = serial.serial_for_url(pty, baudrate=9600, timeout=0.05)
    from components.lib.frames.rdm6300 import Rdm6300Decoder

    reads = read_for(port, Rdm6300Decoder(), 1.0)
    port.close()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and reads
    assert "FLOORLINE_I2C_BUS=sim" in "".join(lines) and "frames sent" in out


def test_id12_sends_one_frame_per_presentation():
    with PtyReader("id12", repeat_s=0.02) as sim:
        port = serial.serial_for_url(sim.path, baudrate=9600, timeout=0.05)
        sim.present("0C000621A5", duration_s=0.3)
        first = read_for(port, Id12Decoder(), 0.5)
        sim.present("0C000621A5", duration_s=0.2)  # presented again
        second = read_for(port, Id12Decoder(), 0.4)
        port.close()
    assert [r.tag_id for r in first] == ["0C000621A5"]
    assert [r.tag_id for r in second] == ["0C000621A5"]


def test_a_reader_works_with_descriptors_above_1024():
    """A fleet runner holds thousands of descriptors (ptys, sockets, logs); select() cannot
    watch one numbered 1024 or above, and the reader's thread died of it at 35 devices."""
    import os
    import resource

    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard descriptor limit ({hard}) is below what this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = []
    try:
        while True:  # occupy every descriptor below 1030
            fd = os.open(os.devnull, os.O_RDONLY)
            filler.append(fd)
            if fd >= 1030:
                break
        with PtyReader("uhf_m100") as sim:
            assert sim.master >= 1024
            for fd in filler:  # the client (pyserial selects too) gets a low descriptor
                os.close(fd)
            filler = []
            sim.present("E2000017221101441890ABCD")
            port = serial.serial_for_url(sim.path, baudrate=115200, timeout=0.05)
            reads = read_for(port, UhfM100Decoder(), 0.5, poll=single_poll_command())
            port.close()
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert reads and {r.tag_id for r in reads} == {"E2000017221101441890ABCD"}
