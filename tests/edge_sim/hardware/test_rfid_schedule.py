"""A reader follows an endless world schedule: passes are taken as they start, so a run of
any length has tags, and a long schedule costs no more per frame than a short one."""

import itertools
import time

import serial

from components.lib.frames.rdm6300 import Rdm6300Decoder
from edge_sim.hardware.readers import start_readers
from edge_sim.hardware.rfid import PtyReader
from edge_sim.world.tags import TagPass, iter_tag_passes, tag_passes


def read_ids(path: str, seconds: float) -> list[str]:
    port = serial.serial_for_url(path, baudrate=9600, timeout=0.05)
    decoder, ids = Rdm6300Decoder(), []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ids += [r.tag_id for r in decoder.feed(port.read(256))]
    finally:
        port.close()
    return ids


def test_an_endless_schedule_plays_in_order():
    # A new tag every 0.25 s, forever: a list could not hold it.
    passes = (TagPass(f"{i:010X}", 0.25 * i, 0.2) for i in itertools.count())
    with PtyReader("rdm6300", repeat_s=0.03) as sim:
        sim.play(passes)
        ids = read_ids(sim.path, 1.3)
    firsts = list(dict.fromkeys(ids))  # each tag once, in the order first seen
    assert len(firsts) >= 3
    assert firsts == sorted(firsts)  # never an earlier pass after a later one


def test_the_schedule_has_no_end_unless_a_horizon_is_given():
    endless = iter_tag_passes(4, per_hour=3600, key="gate")
    passes = list(itertools.islice(endless, 10_000))  # ~10,000 s of arrivals
    assert passes[-1].start_s > 7200  # past the hour the schedule used to stop at
    assert [p.start_s for p in passes] == sorted(p.start_s for p in passes)
    # The bounded form is the endless one cut at the horizon: the same tags at the same times.
    assert tag_passes(4, 3600, per_hour=3600, key="gate") == [p for p in passes if p.start_s < 3600]


def test_a_scenario_horizon_ends_the_tags():
    scenario = {
        "seed": 3,
        "readers": [
            {
                "protocol": "rdm6300",
                "name": "dock1",
                "tagsPerHour": 36000,
                "dwellSeconds": 0.2,
                "repeatSeconds": 0.03,
                "horizonSeconds": 0.0,
            }
        ],
    }
    readers = start_readers(scenario)
    try:
        assert read_ids(readers["dock1"].path, 0.6) == []
    finally:
        for r in readers.values():
            r.stop()
