"""The per-stream settings of the `detectors` key, parsed once, when the configuration arrives,
into frozen objects: a `StreamSettings` per stream, one entry object per detector. The engine
builds its pipelines from these; nothing reads the JSON again.

    {"env/bme280@0x76": {
        "windowSeconds": 60,                      # overrides the global lengths (or a list)
        "kind": "scalar" | "vibration" | "rfid",  # default from the stream name: vib/..., rfid/...
        "sampleRateHz": 400,                      # vibration only (else estimated)
        "fields": ["temperature_c"],              # scalar fields to aggregate (default: all)
        "detectors": [{"type": "threshold", "field": "temperature_c", "high": 40, "low": -5,
                       "hysteresis": 1, "severity": "critical"}, ...]}}

Detector types: threshold (high/low, hysteresis, severity), rate (maxPerSecond,
hysteresisFraction), flatline (seconds, epsilon), novelty (severity), silence (seconds),
battery (warningBelow, criticalBelow, hysteresis), rfid (knownTags, maxDwellSeconds,
unknownSeverity, dwellSeverity). A bad value raises DetectorConfigError naming the stream, the
entry (`detectors[<index>]`) and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.analytics.detectors import (
    DetectorConfigError,
    check_dwell,
    check_flatline,
    check_hysteresis,
    check_rate,
    check_severity,
    check_silence,
)

KINDS = ("scalar", "vibration", "rfid")


@dataclass(frozen=True)
class ThresholdEntry:
    """`threshold`: `high` and/or `low` (at least one), with hysteresis."""

    field: str
    high: float | None
    low: float | None
    hysteresis: float
    severity: str


@dataclass(frozen=True)
class BatteryEntry:
    """`battery`: `battery_low` (warning) below `warning_below`, `battery_critical` (critical)
    below `critical_below`; either may be left out."""

    field: str
    warning_below: float | None
    critical_below: float | None
    hysteresis: float


@dataclass(frozen=True)
class RateEntry:
    """`rate`: |dv/dt| above `max_per_second`."""

    field: str
    max_per_second: float
    hysteresis_fraction: float
    severity: str


@dataclass(frozen=True)
class FlatlineEntry:
    """`flatline`: the value within ±epsilon for `seconds`."""

    field: str
    seconds: float
    epsilon: float
    severity: str


@dataclass(frozen=True)
class NoveltyEntry:
    """`novelty`: the streaming anomaly score (its constants: novelty.json)."""

    field: str
    severity: str


@dataclass(frozen=True)
class SilenceEntry:
    """`silence`: no reading for `seconds` (replaces the default silent-sensor alert)."""

    seconds: float
    severity: str


@dataclass(frozen=True)
class RfidEntry:
    """`rfid`: tags not in `known_tags` (None: every tag is known), and tags present longer
    than `max_dwell_seconds` (None: no limit)."""

    known_tags: tuple[str, ...] | None
    max_dwell_seconds: float | None
    unknown_severity: str
    dwell_severity: str


DetectorEntry = (
    ThresholdEntry
    | BatteryEntry
    | RateEntry
    | FlatlineEntry
    | NoveltyEntry
    | SilenceEntry
    | RfidEntry
)


@dataclass(frozen=True)
class StreamSettings:
    """One stream's settings, parsed: the defaults filled in."""

    kind: str  # one of KINDS
    window_seconds: tuple[float, ...] | None  # None: the global windowSeconds
    sample_rate_hz: float | None  # vibration only; None: estimated from the window
    fields: tuple[str, ...] | None  # None: every numeric field
    detectors: tuple[DetectorEntry, ...]
    # The settings as configured (JSON text): what a checkpoint records them as, so a stream's
    # saved state is restored only under the settings it was saved under.
    source_json: str = dataclasses.field(default="{}", repr=False)

    @property
    def source(self) -> dict[str, Any]:
        """The settings as configured (JSON)."""
        value: dict[str, Any] = json.loads(self.source_json)
        return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DetectorConfigError(f"{key} must be a number, got {value!r}")
    return float(value)


def _optional(spec: Mapping[str, Any], key: str) -> float | None:
    value = spec.get(key)
    return None if value is None else _number(value, key)


def _number_or(spec: Mapping[str, Any], key: str, default: float) -> float:
    value = _optional(spec, key)
    return default if value is None else value


def _required(spec: Mapping[str, Any], key: str, kind: str) -> float:
    value = spec.get(key)
    if value is None:
        raise DetectorConfigError(f"{kind} needs {key}")
    return _number(value, key)


def _field(spec: Mapping[str, Any], default: str) -> str:
    value = spec.get("field", default)
    if not isinstance(value, str) or not value:
        raise DetectorConfigError(f"field must be a name, got {value!r}")
    return value


def _severity(spec: Mapping[str, Any], key: str = "severity") -> str:
    return check_severity(spec.get(key, "warning"))


def window_lengths(value: Any, where: str) -> list[float]:
    """One length or a list of them, each > 0 s, at most four."""
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > 4:
        raise DetectorConfigError(f"{where}: windowSeconds needs 1 to 4 lengths")
    try:
        out = [_number(v, "windowSeconds") for v in items]
    except DetectorConfigError as exc:
        raise DetectorConfigError(f"{where}: {exc}") from None
    if any(v <= 0 for v in out) or len(set(out)) != len(out):
        raise DetectorConfigError(f"{where}: window lengths must be > 0 s and distinct")
    return out


def _threshold(d: Mapping[str, Any]) -> ThresholdEntry:
    hysteresis = _number_or(d, "hysteresis", 0.0)
    if d.get("high") is None and d.get("low") is None:
        raise DetectorConfigError("threshold needs high or low")
    high, low = _optional(d, "high"), _optional(d, "low")
    check_hysteresis("high" if high is not None else "low", hysteresis)
    return ThresholdEntry(_field(d, "value"), high, low, hysteresis, _severity(d))


def _battery(d: Mapping[str, Any]) -> BatteryEntry:
    hysteresis = _number_or(d, "hysteresis", 0.0)
    warning, critical = _optional(d, "warningBelow"), _optional(d, "criticalBelow")
    if warning is not None or critical is not None:
        check_hysteresis("battery_low" if warning is not None else "battery_critical", hysteresis)
    return BatteryEntry(_field(d, "battery_pct"), warning, critical, hysteresis)


def _rate(d: Mapping[str, Any]) -> RateEntry:
    max_per_s = _required(d, "maxPerSecond", "rate")
    fraction = _number_or(d, "hysteresisFraction", 0.2)
    check_rate(max_per_s, fraction)
    return RateEntry(_field(d, "value"), max_per_s, fraction, _severity(d))


def _flatline(d: Mapping[str, Any]) -> FlatlineEntry:
    seconds = _required(d, "seconds", "flatline")
    epsilon = _number_or(d, "epsilon", 0.0)
    check_flatline(seconds, epsilon)
    return FlatlineEntry(_field(d, "value"), seconds, epsilon, _severity(d))


def _novelty(d: Mapping[str, Any]) -> NoveltyEntry:
    return NoveltyEntry(_field(d, "value"), _severity(d))


def _silence(d: Mapping[str, Any]) -> SilenceEntry:
    seconds = _required(d, "seconds", "silence")
    check_silence(seconds)
    return SilenceEntry(seconds, _severity(d))


def _rfid(d: Mapping[str, Any]) -> RfidEntry:
    known = d.get("knownTags")
    if known is not None and (
        not isinstance(known, list) or not all(isinstance(k, str) for k in known)
    ):
        raise DetectorConfigError("knownTags must be a list of tag ids")
    max_dwell_s = _optional(d, "maxDwellSeconds")
    check_dwell(max_dwell_s)
    return RfidEntry(
        None if known is None else tuple(known),
        max_dwell_s,
        _severity(d, "unknownSeverity"),
        _severity(d, "dwellSeverity"),
    )


_ENTRIES: dict[str, Callable[[Mapping[str, Any]], DetectorEntry]] = {
    "threshold": _threshold,
    "battery": _battery,
    "rate": _rate,
    "flatline": _flatline,
    "novelty": _novelty,
    "silence": _silence,
    "rfid": _rfid,
}


def _entry(d: Any) -> DetectorEntry:
    if not isinstance(d, Mapping) or "type" not in d:
        raise DetectorConfigError("expected an object with a type")
    parse = _ENTRIES.get(d["type"]) if isinstance(d["type"], str) else None
    if parse is None:
        raise DetectorConfigError(f"unknown detector type {d['type']!r}")
    return parse(d)


def default_kind(stream: str) -> str:
    """The kind a stream's name implies: vib/... vibration, rfid/... rfid, else scalar."""
    if stream.startswith("rfid/"):
        return "rfid"
    return "vibration" if stream.startswith("vib/") else "scalar"


def parse_stream(stream: str, spec: Any) -> StreamSettings:
    """One stream's settings; DetectorConfigError names the stream (and the entry)."""
    if not isinstance(spec, Mapping):
        raise DetectorConfigError(f"{stream}: expected an object")
    kind = spec.get("kind")
    if kind is None:
        kind = default_kind(stream)
    if kind not in KINDS:
        raise DetectorConfigError(f"{stream}: kind {kind!r} is not one of {KINDS}")
    lengths = (
        tuple(window_lengths(spec["windowSeconds"], stream)) if "windowSeconds" in spec else None
    )
    fields = spec.get("fields")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise DetectorConfigError(f"{stream}: fields must be a list of names")
    rate_hz = None
    if kind == "vibration":
        try:
            rate_hz = _optional(spec, "sampleRateHz")
        except DetectorConfigError as exc:
            raise DetectorConfigError(f"{stream}: {exc}") from None
    detectors = spec.get("detectors", [])
    if not isinstance(detectors, list):
        raise DetectorConfigError(f"{stream}: detectors must be a list")
    entries = []
    for i, d in enumerate(detectors):
        try:
            entries.append(_entry(d))
        except DetectorConfigError as exc:
            raise DetectorConfigError(f"{stream}: detectors[{i}]: {exc}") from None
    return StreamSettings(
        str(kind),
        lengths,
        rate_hz,
        tuple(fields) if fields else None,
        tuple(entries),
        json.dumps(spec, sort_keys=True, separators=(",", ":")),
    )


def parse_streams(value: Any) -> dict[str, StreamSettings]:
    """The `detectors` key: stream name -> its settings, parsed. Raises DetectorConfigError
    for the first unusable stream setting."""
    if not isinstance(value, Mapping):
        raise DetectorConfigError("expected an object of stream -> settings")
    return {str(name): parse_stream(str(name), spec) for name, spec in value.items()}
