"""The uplink benchmark's accounting and its drain harness on a toy backlog (no timing)."""

from __future__ import annotations

import pytest

from bench import uplink, uplink_backlog
from bench.uplink_run import drain
from components.core import batch


def test_publish_bytes_follow_mqtt_framing():
    # fixed header 1 + remaining-length varint + topic length 2 + topic + packet id 2 + payload,
    # then a 4-byte PUBACK
    assert uplink.mqtt_publish_bytes("a/b", b"x" * 10) == 1 + 1 + (2 + 3 + 2 + 10) + 4
    assert uplink.mqtt_publish_bytes("", b"x" * 123) == 1 + 1 + 127 + 4
    assert uplink.mqtt_publish_bytes("", b"x" * 124) == 1 + 2 + 128 + 4


def test_cost_bills_in_5_kb_steps():
    c = uplink.cost([("t", b"x" * 5120), ("t", b"x" * 5121), ("t", b"")], readings=3)
    assert c["units"] == 1 + 2 + 1
    assert c["units_per_1000"] == pytest.approx(4000 / 3)


def test_floorline_batches_carry_every_reading_and_bill_less_than_the_seeds():
    samples = uplink.rounded(uplink.bme280_samples(60))
    msgs = uplink.floorline_messages(samples, None)
    got = [r.payload for _t, p in msgs for r in batch.decode(p)[1]]
    assert got == [p for _w, p in samples]
    ours = uplink.cost(msgs, 3 * len(samples))
    seeds = uplink.cost(uplink.seed_messages(samples), 3 * len(samples))
    assert seeds["messages"] == len(samples)
    assert ours["units"] < seeds["units"]


@pytest.mark.e2e
def test_toy_backlog_drains_through_the_real_process_without_loss(tmp_path):
    log_path = tmp_path / "log.db"
    bl = uplink_backlog.build(log_path, uplink.THING, 60)
    run = drain(log_path, uplink.THING, use_kinesis=True, timeout_s=60)
    assert run.done_s is not None, run.exit_output
    seen = uplink._decoded_identities([d for _k, d in run.kinesis.records("floorline-raw")])
    assert len(seen) == bl.raw_records
    assert run.cloud.limit_violations() == 0
    assert max(s.rss_kb for s in run.samples) > 0
