"""RfidService in-process: port faults become health records; config is validated."""

import pytest
import serial

from components.core.clock import ManualClock
from components.core.config import ConfigError
from components.core.log import Log
from components.lib.frames import rdm6300
from components.rfid.config import SPEC, Reader, port_label
from components.rfid.service import RfidService


def test_port_labels():
    assert port_label("/dev/ttyS0") == "ttyS0"
    assert port_label("/dev/pts/3") == "pts3"
    assert port_label("socket://10.0.0.5:7000") == "10.0.0.5:7000"


def test_reader_entries_are_parsed_with_their_defaults_filled_in():
    assert SPEC.parse({}).readers == (Reader("rdm6300", "/dev/serial0", 9600, "serial0", "m100"),)
    entry = {"model": "uhf_m100", "port": "/dev/ttyUSB0", "name": "dock", "variant": "r200"}
    (uhf,) = SPEC.parse({"readers": [entry]}).readers
    assert uhf == Reader("uhf_m100", "/dev/ttyUSB0", 115200, "dock", "r200")
    assert uhf.stream == "rfid/uhf_m100@dock"


def test_config_rejects_bad_reader_entries():
    with pytest.raises(ConfigError) as err:
        SPEC.parse({"readers": [{"model": "wiegand", "port": "/dev/ttyS0"}]})
    assert "readers" in err.value.errors
    with pytest.raises(ConfigError):
        SPEC.parse(
            {
                "readers": [
                    {"model": "id12la", "port": "/dev/ttyS0"},
                    {"model": "id12la", "port": "/dev/ttyS0"},
                ]
            }
        )


def test_missing_port_is_a_health_record_then_recovers(tmp_path):
    clock = ManualClock()
    cfg = SPEC.parse(
        {
            "reopenIntervalSeconds": 1.0,
            "departAfterSeconds": 0.3,
            "readers": [{"model": "rdm6300", "port": "loop://", "name": "bench"}],
        }
    )
    loop = serial.serial_for_url("loop://", timeout=0)
    attempts = []

    def open_port(url, baud):
        attempts.append(url)
        if len(attempts) < 3:
            raise serial.SerialException(f"could not open port {url}")
        return loop

    with Log.open(tmp_path / "log.db", device="d1", clock=clock) as store:
        svc = RfidService(cfg, store, clock, open_port)
        for _ in range(4):
            svc.cycle()
            clock.advance(0.6)
        loop.write(rdm6300.encode("0A0B0C0D0E"))
        svc.cycle()
        clock.advance(0.5)
        svc.cycle()
        records = list(store.snapshot_records())
    health = [r.payload["event"] for r in records if r.stream == "health/rdm6300@bench"]
    assert health == ["reader_fault", "reader_recovered"]
    events = [r.payload["event"] for r in records if r.stream == "rfid/rdm6300@bench"]
    assert events == ["arrive", "depart"]


def test_reconfiguration_keeps_presence_of_unchanged_readers(tmp_path):
    clock = ManualClock()
    ports = {}

    def open_port(url, baud):
        ports[url] = serial.serial_for_url("loop://", timeout=0)
        return ports[url]

    raw = {
        "departAfterSeconds": 0.5,
        "readers": [
            {"model": "rdm6300", "port": "/dev/ttyA", "name": "a"},
            {"model": "rdm6300", "port": "/dev/ttyB", "name": "b"},
        ],
    }
    with Log.open(tmp_path / "log.db", device="d1", clock=clock) as store:
        svc = RfidService(SPEC.parse(raw), store, clock, open_port)
        svc.cycle()
        ports["/dev/ttyA"].write(rdm6300.encode("0A0B0C0D0E"))
        ports["/dev/ttyB"].write(rdm6300.encode("0102030405"))
        svc.cycle()
        # Reader b goes away, a stays with a longer debounce.
        raw2 = {**raw, "departAfterSeconds": 2.0, "readers": raw["readers"][:1]}
        svc.close(keep_ports=True)
        svc = RfidService(SPEC.parse(raw2), store, clock, open_port, previous=svc)
        clock.advance(1.0)
        svc.cycle()
        clock.advance(1.5)
        svc.cycle()
        events = [(r.stream, r.payload["event"]) for r in store.snapshot_records(("event",))]
    assert events == [
        ("rfid/rdm6300@a", "arrive"),
        ("rfid/rdm6300@b", "arrive"),
        ("rfid/rdm6300@b", "depart"),
        ("rfid/rdm6300@a", "depart"),
    ]
