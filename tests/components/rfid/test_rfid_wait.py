"""The reader loop sleeps until there is something to do: bytes on a port (a real pty), a
tag's departure, the stats; it never spins on an idle port."""

from __future__ import annotations

import os
import threading
import time
import tty

import serial

from components.core.clock import SystemClock
from components.core.log import Log
from components.lib.frames import rdm6300, uhf_m100
from components.rfid.config import SPEC
from components.rfid.service import RfidService

TAG = "0A0B0C0D0E"


def pty() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


def service(store: Log, port: str, **cfg) -> RfidService:
    raw = {
        "departAfterSeconds": 0.3,
        "healthIntervalSeconds": 3600,
        "readers": [{"model": "rdm6300", "port": port, "name": "dock"}],
        **cfg,
    }
    return RfidService(
        SPEC.parse(raw),
        store,
        SystemClock(),
        lambda url, baud: serial.serial_for_url(url, baudrate=baud, timeout=0),
    )


def events(store: Log) -> list[str]:
    return [r.payload["event"] for r in store.snapshot_records() if r.stream.startswith("rfid/")]


def test_bytes_on_the_port_end_the_wait_and_the_next_cycle_reads_them(tmp_path):
    master, path = pty()
    with Log.open(tmp_path / "log.db", device="d1") as store:
        svc = service(store, path)
        svc.cycle()  # opens the port
        writer = threading.Timer(0.2, os.write, (master, rdm6300.encode(TAG)))
        writer.start()
        t0 = time.monotonic()
        svc.wait(30.0)
        waited = time.monotonic() - t0
        svc.cycle()
        writer.join()
        assert events(store) == ["arrive"]
        svc.close()
    os.close(master)
    assert waited < 15  # woken by the frame, not by the 30 s cap (generous: a loaded CI box)


def test_with_no_traffic_the_wait_ends_at_the_departure(tmp_path):
    master, path = pty()
    with Log.open(tmp_path / "log.db", device="d1") as store:
        svc = service(store, path)
        svc.cycle()
        os.write(master, rdm6300.encode(TAG))
        while events(store) != ["arrive"]:
            svc.wait(1.0)
            svc.cycle()
        svc.wait(30.0)  # nothing arrives: the tag's departure is what is due
        svc.cycle()
        assert events(store) == ["arrive", "depart"]  # on the first cycle after the wait
        svc.close()
    os.close(master)


def test_an_idle_port_is_not_polled_in_a_loop(tmp_path):
    master, path = pty()
    with Log.open(tmp_path / "log.db", device="d1") as store:
        svc = service(store, path)
        cycles, deadline = 0, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            svc.cycle()
            svc.wait(0.25)
            cycles += 1
        svc.close()
    os.close(master)
    assert cycles <= 8  # the cap, not a fixed 20 ms tick (that made 50)


def test_a_port_without_a_descriptor_is_read_every_poll_interval(tmp_path):
    with Log.open(tmp_path / "log.db", device="d1") as store:
        svc = service(store, "loop://")
        svc.cycle()
        port = svc.readers[0].port
        port.write(rdm6300.encode(TAG))
        t0 = time.monotonic()
        svc.wait(30.0)
        waited = time.monotonic() - t0
        svc.cycle()
        assert events(store) == ["arrive"]
        svc.close()
    assert waited < 15  # read again after POLL_S, not at the 30 s cap


def test_a_failed_port_with_a_tag_in_the_field_does_not_spin_until_its_reopen(tmp_path):
    master, path = pty()
    with Log.open(tmp_path / "log.db", device="d1") as store:
        svc = service(store, path, reopenIntervalSeconds=60)
        svc.cycle()
        os.write(master, rdm6300.encode(TAG))
        while events(store) != ["arrive"]:
            svc.wait(1.0)
            svc.cycle()
        os.close(master)  # the adapter is unplugged with the tag in the field
        cycles, deadline = 0, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            svc.cycle()
            svc.wait(0.25)
            cycles += 1
        assert svc.readers[0].port is None
        svc.close()
    assert cycles <= 8  # the tag departs when the port is back; nothing is due before that


def test_a_uhf_reader_is_polled_at_its_interval_not_at_the_cap(tmp_path):
    master, path = pty()
    os.set_blocking(master, False)
    with Log.open(tmp_path / "log.db", device="d1") as store:
        svc = service(
            store,
            path,
            pollIntervalSeconds=0.1,
            readers=[{"model": "uhf_m100", "port": path, "name": "gate"}],
        )
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            svc.cycle()
            svc.wait(5.0)
        svc.close()
    sent = os.read(master, 4096)
    os.close(master)
    assert sent.count(uhf_m100.single_poll_command(uhf_m100.M100)) >= 5  # ~10; the cap gives 1
