"""The component's configuration (the typed spec its recipe is checked against, rejected
updates), reconfiguration that keeps unchanged streams' state, and the engine's handling of
every stream kind, the built-in defaults and bad input."""

import math

from waiting import wait_for

from components.analytics import __main__ as comp
from components.analytics.alerts import AlertBook
from components.analytics.detectors import Change
from components.analytics.engine import MAX_STREAMS, Engine
from components.analytics.streams import parse_streams
from components.core.clock import ManualClock
from components.core.config import ConfigHolder
from components.core.envelope import Record
from components.core.log import Log

T0 = 1_767_225_600_000
ENV, VIB, RFID = "env/bme280@0x76", "vib/adxl345@0x53", "rfid/rdm6300@ttyS0"


def rec(stream, seq, t_ms, payload, cls="raw"):
    return Record("dev-001", stream, seq, cls, 0, t_ms, True, payload)


def scalar(high=30.0):
    return {
        "windowSeconds": 10,
        "detectors": [
            {"type": "threshold", "field": "temperature_c", "high": high, "hysteresis": 1}
        ],
    }


def test_defaults_are_the_recipe_shape():
    cfg = comp.SPEC.parse({})
    assert cfg.windowSeconds == (10.0, 60.0) and cfg.detectors == {}
    assert cfg.silentAfterSeconds == 300 and cfg.alarmMinSeverity == "critical"
    assert (cfg.alarmPin, cfg.ackButtonPin) == ("GPIO17", "GPIO27")


def test_invalid_update_is_rejected_with_a_reason_and_the_old_config_stays():
    holder = ConfigHolder(comp.SPEC, {"detectors": {ENV: scalar()}})
    bad = {"detectors": {ENV: {"detectors": [{"type": "threshold", "high": "hot"}]}}}
    err = holder.update(bad)
    assert err is not None and "high must be a number" in err.errors["detectors"]
    assert ENV in err.errors["detectors"]
    assert holder.current.detectors == parse_streams({ENV: scalar()})
    for wrong in (
        {"detectors": {ENV: {"detectors": [{"type": "laser"}]}}},
        {"windowSeconds": [10, -5]},
        {"windowSeconds": []},
        {"alarmMinSeverity": "loud"},
        {"alarmPin": "pin seventeen"},
        {"silentAfterSeconds": -1},
        {"detectors": {ENV: {"kind": "sonar"}}},
    ):
        assert holder.update(wrong) is not None, wrong
    assert holder.rejected == 8 and holder.current.detectors == parse_streams({ENV: scalar()})
    assert holder.raw["detectors"] == {ENV: scalar()}
    assert holder.update({"detectors": {ENV: scalar(40.0)}}) is None
    assert holder.current.detectors[ENV].detectors[0].high == 40.0


def test_reconfigure_keeps_unchanged_streams_and_flushes_changed_ones(tmp_path):
    clock = ManualClock(wall_ms=T0)
    lg = Log.open(tmp_path / "log.db", device="dev-001", free_floor_bytes=0, clock=clock)
    other = "env/sht31@0x44"
    cfg = comp.SPEC.parse({"detectors": {ENV: scalar(), other: scalar()}})
    c = comp.Analytics(lg, cfg, clock)
    lg.register_consumer("check", classes=("aggregate", "alert"))
    for i in range(5):
        lg.append(ENV, "raw", {"temperature_c": 20.0 + i}, wall_ms=T0 + i * 1000)
        lg.append(other, "raw", {"temperature_c": 20.0}, wall_ms=T0 + i * 1000)
    c.step()
    c.reconfigure(comp.SPEC.parse({"detectors": {ENV: scalar(22.0), other: scalar()}}))
    lg.append(ENV, "raw", {"temperature_c": 25.0}, wall_ms=T0 + 5000)
    lg.append(other, "raw", {"temperature_c": 20.0}, wall_ms=T0 + 5000)
    c.step()
    out = [r.payload for r in lg.read("check")]
    partial = [p for p in out if p.get("partial")]
    assert len(partial) == 1 and partial[0]["source"] == ENV
    assert partial[0]["fields"]["temperature_c"]["count"] == 5
    alerts = [p for p in out if "alert_id" in p]
    assert [(a["stream"], a["state"], a["value"]) for a in alerts] == [(ENV, "raised", 25.0)]
    assert c.engine.pipes[other].windows[0].fields["temperature_c"].count == 6  # state carried


def test_alert_book_keeps_one_open_alert_per_condition():
    book = AlertBook()
    up = Change("high", True, "critical", T0, 31.0, "31 above 30")
    down = Change("high", False, "critical", T0 + 5000, 28.0, "back")
    a = book.apply("dev-001", ENV, "threshold", up, {"window": 1})
    assert a["state"] == "raised" and a["evidence"] == {"window": 1}
    assert book.apply("dev-001", ENV, "threshold", up, None) is None
    assert book.duplicate_raises == 1 and book.open_at_least("critical") == [a["alert_id"]]
    assert book.open_at_least("warning") == [a["alert_id"]]
    c = book.apply("dev-001", ENV, "threshold", down, None)
    assert c["state"] == "cleared" and c["alert_id"] == a["alert_id"]
    assert c["cleared_ms"] == T0 + 5000
    assert book.apply("dev-001", ENV, "threshold", down, None) is None
    assert book.orphan_clears == 1 and book.open == {}


def test_engine_vibration_rfid_silence_defaults_and_bad_input():
    eng = Engine(
        "dev-001",
        parse_streams(
            {
                VIB: {"windowSeconds": 1, "sampleRateHz": 100},
                RFID: {
                    "detectors": [{"type": "rfid", "knownTags": ["0A01"], "maxDwellSeconds": 60}]
                },
                ENV: {"detectors": [{"type": "silence", "seconds": 30}]},
            }
        ),
        windows_s=[10, 60],
        silent_after_s=120,
    )
    seq = 0
    out = []
    for i in range(100):
        seq += 1
        out += eng.process(
            rec(
                VIB,
                seq,
                T0 + i * 10,
                {
                    "accel_x_g": math.sin(2 * math.pi * 10 * i / 100),
                    "accel_y_g": 0.0,
                    "accel_z_g": 1.0,
                },
            )
        )
    out += eng.process(
        rec(VIB, seq + 1, T0 + 1000, {"accel_x_g": 0, "accel_y_g": 0, "accel_z_g": 1})
    )
    vib = [p for s, c, p in out if c == "aggregate"]
    assert len(vib) == 1 and abs(vib[0]["axes"]["x"]["dominant_hz"] - 10.0) < 0.2
    assert vib[0]["kind"] == "vibration" and vib[0]["window_s"] == 1.0
    assert out[-1][0] == "agg_vib/adxl345@0x53"
    assert eng.process(rec(VIB, 200, T0 + 1010, {"accel_x_g": 1})) == []  # missing axes
    assert eng.pipes[VIB].bad_payloads == 1
    out = eng.process(rec(RFID, 1, T0, {"kind": "arrive", "tag_id": "FF99"}, "event"))
    assert [(s, p["condition"]) for s, _, p in out] == [
        ("alert_rfid/rdm6300@ttyS0", "unknown_tag:FF99")
    ]
    assert eng.process(rec(RFID, 2, T0, {"kind": "arrive"}, "event")) == []
    assert eng.pipes[RFID].bad_payloads == 1
    eng.process(rec(ENV, 1, T0, {"temperature_c": 20.0, "note": "x", "bad": math.nan}))
    assert eng.process(rec(ENV, 2, T0, {"note": "no numbers"})) == []
    assert eng.pipes[ENV].bad_payloads == 1
    # an unlisted stream gets the defaults: both window lengths and the silent-sensor alert
    other = "env/sht31@0x44"
    eng.process(rec(other, 1, T0, {"humidity_pct": 40.0}))
    assert [w.length_ms for w in eng.pipes[other].windows] == [10_000, 60_000]
    ticked = eng.tick(T0 + 61_000)
    aggs = sorted((p["source"], p["window_s"]) for _, c, p in ticked if c == "aggregate")
    assert aggs == [(ENV, 10.0), (ENV, 60.0), (other, 10.0), (other, 60.0), (VIB, 1.0)]
    conds = sorted(p["condition"] for _, c, p in ticked if c == "alert")
    assert conds == ["dwell:FF99", "silent"]  # ENV's own 30 s silence
    ticked = eng.tick(T0 + 200_000)
    assert sorted((s, p["condition"]) for s, c, p in ticked if c == "alert") == [
        ("alert_device/self", "device_silent"),
        ("alert_env/sht31@0x44", "silent"),
        ("alert_vib/adxl345@0x53", "silent"),
    ]  # an RFID reader is quiet between tags


def test_streams_beyond_the_cap_are_counted_not_tracked():
    eng = Engine("dev-001", {}, windows_s=[60])
    for i in range(MAX_STREAMS + 3):
        eng.process(rec(f"env/s{i}@0x01", 1, T0, {"v": 1.0}))
    assert len(eng.pipes) == MAX_STREAMS and eng.untracked == 3


def test_the_readme_example_configuration_is_valid():
    import json
    import re
    from pathlib import Path

    readme = (Path(comp.__file__).parent / "README.md").read_text()
    block = re.search(r"```json\n(.*?)```", readme, re.S).group(1)
    cfg = comp.SPEC.parse(json.loads("{" + block + "}"))
    eng = Engine("dev-001", cfg.detectors, cfg.windowSeconds, cfg.silentAfterSeconds)
    assert eng.pipes["vib/adxl345@0x53"].kind == "vibration"
    assert eng.pipes["rfid/rdm6300@ttyS0"].rfid is not None


def test_follow_steps_when_another_connection_commits_not_only_on_its_timer(tmp_path):
    """A reading committed by another process is processed without waiting out the step
    interval (here an hour): its alert is in the log while the follower is still running."""
    import threading

    from components.core.clock import SystemClock
    from components.core.stopping import Stop

    clock = SystemClock()
    path = tmp_path / "log.db"
    lg = Log.open(path, device="dev-001", free_floor_bytes=0, clock=clock)
    producer = Log.open(path, device="dev-001", free_floor_bytes=0, clock=clock)
    reader = Log.open(path, device="dev-001", free_floor_bytes=0, clock=clock)
    reader.register_consumer("check", classes=("alert",))
    c = comp.Analytics(lg, comp.SPEC.parse({"detectors": {ENV: scalar()}}), clock)
    stop = Stop()
    follower = threading.Thread(
        target=comp.follow,
        args=(c, lg, stop),
        kwargs={"step_interval_s": 3600.0, "wake_poll_s": 0.01},
    )
    follower.start()
    try:
        producer.append(ENV, "raw", {"temperature_c": 20.0}, wall_ms=clock.wall_ms())
        producer.append(ENV, "raw", {"temperature_c": 35.0}, wall_ms=clock.wall_ms())
        alerts = wait_for(
            lambda: [r.payload for r in reader.read("check")],
            timeout_s=30,
            what="the alert while following",
        )
        assert [(a["stream"], a["state"], a["value"]) for a in alerts] == [(ENV, "raised", 35.0)]
        assert follower.is_alive()  # seen while following, not at a final commit
    finally:
        stop.set()
        follower.join(10)
    assert not follower.is_alive()
    for x in (lg, producer, reader):
        x.close()
