"""The `detectors` key parsed once into frozen per-stream settings and detector entries: the
defaults filled in, and a bad entry rejected with its stream and index named."""

import dataclasses

import pytest

from components.analytics import __main__ as comp
from components.analytics.detectors import DetectorConfigError
from components.analytics.engine import Engine
from components.analytics.streams import (
    BatteryEntry,
    FlatlineEntry,
    NoveltyEntry,
    RateEntry,
    RfidEntry,
    SilenceEntry,
    StreamSettings,
    ThresholdEntry,
    parse_stream,
    parse_streams,
)
from components.core.config import ConfigHolder

ENV, VIB, RFID = "env/bme280@0x76", "vib/adxl345@0x53", "rfid/rdm6300@ttyS0"


def test_parsing_gives_frozen_typed_settings_with_the_defaults_filled_in():
    cfg = comp.SPEC.parse(
        {
            "detectors": {
                ENV: {
                    "windowSeconds": 60,
                    "fields": ["temperature_c"],
                    "detectors": [
                        {"type": "threshold", "high": 40},
                        {"type": "rate", "field": "temperature_c", "maxPerSecond": 0.5},
                        {"type": "flatline", "seconds": 900},
                        {"type": "novelty", "severity": "critical"},
                        {"type": "silence", "seconds": 120},
                        {"type": "battery", "warningBelow": 20},
                    ],
                },
                VIB: {"sampleRateHz": 400},
                RFID: {"detectors": [{"type": "rfid"}]},
            }
        }
    )
    env = cfg.detectors[ENV]
    assert isinstance(env, StreamSettings)
    assert (env.kind, env.window_seconds, env.fields) == ("scalar", (60.0,), ("temperature_c",))
    assert env.detectors == (
        ThresholdEntry("value", 40.0, None, 0.0, "warning"),
        RateEntry("temperature_c", 0.5, 0.2, "warning"),
        FlatlineEntry("value", 900.0, 0.0, "warning"),
        NoveltyEntry("value", "critical"),
        SilenceEntry(120.0, "warning"),
        BatteryEntry("battery_pct", 20.0, None, 0.0),
    )
    vib = cfg.detectors[VIB]
    assert (vib.kind, vib.window_seconds, vib.sample_rate_hz, vib.detectors) == (
        "vibration",
        None,  # the global windowSeconds
        400.0,
        (),
    )
    assert cfg.detectors[RFID].kind == "rfid"
    assert cfg.detectors[RFID].detectors == (RfidEntry(None, None, "warning", "warning"),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.kind = "vibration"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.detectors[0].high = 50.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.detectors[ENV] = vib  # type: ignore[index]
    hash(env)  # wholly immutable, down to its entries


def test_a_stream_not_configured_gets_the_kind_its_name_implies():
    assert parse_stream(VIB, {}).kind == "vibration"
    assert parse_stream(RFID, {}).kind == "rfid"
    assert parse_stream("power/ina219@0x40", {}).kind == "scalar"
    assert parse_stream(VIB, {"kind": "scalar"}).kind == "scalar"
    assert parse_stream(ENV, {"fields": []}).fields is None  # no list: every field


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"type": "threshold", "high": "hot"}, "high must be a number, got 'hot'"),
        ({"type": "threshold"}, "threshold needs high or low"),
        ({"type": "threshold", "high": 1, "hysteresis": -1}, "hysteresis -1.0 must be >= 0"),
        ({"type": "threshold", "high": 1, "severity": "loud"}, "severity 'loud' is not one of"),
        ({"type": "rate"}, "rate needs maxPerSecond"),
        ({"type": "rate", "maxPerSecond": 0}, "rate: maxPerSecond must be > 0"),
        ({"type": "flatline"}, "flatline needs seconds"),
        ({"type": "flatline", "seconds": 9, "epsilon": -1}, "epsilon >= 0"),
        ({"type": "silence", "seconds": 0}, "silence: seconds must be > 0"),
        ({"type": "novelty", "field": 7}, "field must be a name, got 7"),
        ({"type": "rfid", "knownTags": "0A01"}, "knownTags must be a list of tag ids"),
        ({"type": "rfid", "dwellSeverity": "loud"}, "severity 'loud' is not one of"),
        ({"type": "laser"}, "unknown detector type 'laser'"),
        ({"field": "t"}, "expected an object with a type"),
        ("threshold", "expected an object with a type"),
    ],
)
def test_a_bad_entry_is_rejected_naming_its_stream_and_index(entry, problem):
    good = {"type": "silence", "seconds": 30}
    holder = ConfigHolder(comp.SPEC, {})
    err = holder.update({"detectors": {ENV: {"detectors": [good, entry]}}})
    assert err is not None
    assert err.errors["detectors"].startswith(f"{ENV}: detectors[1]: ")
    assert problem in err.errors["detectors"]
    assert holder.current.detectors == {}  # the configuration in force stays


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"kind": "sonar"}, "kind 'sonar' is not one of"),
        ({"windowSeconds": [10, 10]}, "window lengths must be > 0 s and distinct"),
        ({"windowSeconds": None}, "windowSeconds must be a number, got None"),
        ({"fields": "temperature_c"}, "fields must be a list of names"),
        ({"kind": "vibration", "sampleRateHz": "fast"}, "sampleRateHz must be a number"),
        ({"detectors": {"type": "silence"}}, "detectors must be a list"),
        (["silence"], "expected an object"),
    ],
)
def test_a_bad_stream_setting_names_the_stream(settings, problem):
    with pytest.raises(DetectorConfigError) as exc:
        parse_streams({ENV: settings})
    assert str(exc.value).startswith(f"{ENV}: ") and problem in str(exc.value)


def test_the_engine_builds_its_pipelines_from_the_parsed_settings():
    streams = parse_streams(
        {
            ENV: {
                "windowSeconds": [5, 30],
                "fields": ["temperature_c"],
                "detectors": [
                    {"type": "threshold", "field": "temperature_c", "high": 40, "low": -5},
                    {"type": "battery", "warningBelow": 20, "criticalBelow": 10},
                    {"type": "silence", "seconds": 30, "severity": "critical"},
                ],
            }
        }
    )
    eng = Engine("dev-001", streams, windows_s=[60], silent_after_s=300)
    pipe = eng.pipes[ENV]
    assert [w.length_ms for w in pipe.windows] == [5_000, 30_000]
    assert pipe.fields == ("temperature_c",)
    assert [(n, f, d.condition, d.limit) for n, f, d in pipe.value_detectors] == [
        ("threshold", "temperature_c", "high", 40.0),
        ("threshold", "temperature_c", "low", -5.0),
        ("battery", "battery_pct", "battery_low", 20.0),
        ("battery", "battery_pct", "battery_critical", 10.0),
    ]
    assert pipe.silence is not None
    assert (pipe.silence.gap_ms, pipe.silence.severity) == (30_000, "critical")
    # what the checkpoint records the settings as: the JSON as configured
    assert eng.effective_spec(ENV)["spec"]["windowSeconds"] == [5, 30]
    assert eng.effective_spec("env/sht31@0x44")["spec"] == {}
