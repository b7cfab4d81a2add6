"""The analytics pipeline per stream, pure: records in, aggregate and alert payloads out.

Configuration (the `streams` key) maps a stream name to:

    {"windowSeconds": 60,                      # tumbling window length
     "kind": "scalar" | "vibration" | "rfid",  # default scalar
     "sampleRateHz": 400,                      # vibration only (else estimated)
     "fields": ["temperature_c"],              # scalar fields to aggregate (default: all numbers)
     "detectors": [{"type": "threshold", "field": "temperature_c", "high": 40, "low": -5,
                    "hysteresis": 1, "severity": "critical"}, ...]}

Detector types: threshold (high/low, hysteresis, severity), rate (maxPerSecond),
flatline (seconds, epsilon), novelty (severity), silence (seconds), battery (warningBelow,
criticalBelow, hysteresis), rfid (knownTags, maxDwellSeconds). `build_stream` validates all
of it and raises DetectorConfigError naming the stream and the problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.analytics.alerts import AlertBook
from components.analytics.detectors import (
    DetectorConfigError,
    Flatline,
    Level,
    Novelty,
    NoveltyParams,
    RateOfChange,
    RfidWatch,
    Signal,
    Silence,
)
from components.analytics.windows import TumblingWindow, VibrationWindow
from components.core.envelope import Record

KINDS = ("scalar", "vibration", "rfid")
_PREFIX = {"aggregate": "agg", "alert": "alert"}


def derived_stream(cls: str, stream: str) -> str:
    """The log holds one class per stream: aggregates and alerts of `env/bme280@0x76` go to
    `agg_env/bme280@0x76` and `alert_env/bme280@0x76`."""
    return f"{_PREFIX[cls]}_{stream}"
Output = tuple[str, str, dict[str, Any]]  # (stream, record class, payload)
DEVICE_STREAM = "device/self"  # alerts about the whole device go to alert_device/self


@dataclass
class StreamPipeline:
    stream: str
    kind: str
    fields: tuple[str, ...] | None
    window: TumblingWindow | VibrationWindow | None
    # (name, field, detector) for value detectors
    value_detectors: list[tuple[str, str, Any]] = field(default_factory=list)
    silence: Silence | None = None
    rfid: RfidWatch | None = None
    bad_payloads: int = 0

    def state(self) -> dict[str, Any]:
        return {
            "window": self.window.state() if self.window else None,
            "detectors": [d.state() for _, _, d in self.value_detectors],
            "silence": self.silence.state() if self.silence else None,
            "rfid": self.rfid.state() if self.rfid else None,
            "bad_payloads": self.bad_payloads,
        }

    def restore(self, s: Mapping[str, Any]) -> None:
        if self.window and s["window"] is not None:
            self.window.restore(s["window"])
        for (_, _, d), ds in zip(self.value_detectors, s["detectors"], strict=True):
            d.restore(ds)
        if self.silence and s["silence"] is not None:
            self.silence.restore(s["silence"])
        if self.rfid and s["rfid"] is not None:
            self.rfid.restore(s["rfid"])
        self.bad_payloads = int(s["bad_payloads"])


def _num(spec: Mapping[str, Any], key: str, where: str, default: Any = None) -> Any:
    v = spec.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DetectorConfigError(f"{where}: {key} must be a number, got {v!r}")
    return float(v)


def build_stream(stream: str, spec: Mapping[str, Any], novelty: NoveltyParams) -> StreamPipeline:
    if not isinstance(spec, Mapping):
        raise DetectorConfigError(f"{stream}: expected an object")
    kind = spec.get("kind", "scalar")
    if kind not in KINDS:
        raise DetectorConfigError(f"{stream}: kind {kind!r} is not one of {KINDS}")
    window_s = _num(spec, "windowSeconds", stream, 60.0)
    if window_s <= 0:
        raise DetectorConfigError(f"{stream}: windowSeconds must be > 0")
    fields_ = spec.get("fields")
    if fields_ is not None and (not isinstance(fields_, list) or
                                not all(isinstance(f, str) for f in fields_)):
        raise DetectorConfigError(f"{stream}: fields must be a list of names")
    window: TumblingWindow | VibrationWindow | None
    if kind == "vibration":
        window = VibrationWindow(window_s, _num(spec, "sampleRateHz", stream))
    elif kind == "scalar":
        window = TumblingWindow(window_s)
    else:
        window = None
    p = StreamPipeline(stream, kind, tuple(fields_) if fields_ else None, window)
    for i, d in enumerate(spec.get("detectors", [])):
        where = f"{stream}: detectors[{i}]"
        if not isinstance(d, Mapping) or "type" not in d:
            raise DetectorConfigError(f"{where}: expected an object with a type")
        t, sev, fld = d["type"], d.get("severity", "warning"), d.get("field", "value")
        if t == "threshold":
            hyst = _num(d, "hysteresis", where, 0.0)
            if d.get("high") is not None:
                p.value_detectors.append((t, fld, Level("high", _num(d, "high", where), True,
                                                        hyst, sev)))
            if d.get("low") is not None:
                p.value_detectors.append((t, fld, Level("low", _num(d, "low", where), False,
                                                        hyst, sev)))
        elif t == "battery":
            hyst = _num(d, "hysteresis", where, 0.0)
            fld = d.get("field", "battery_pct")
            if d.get("warningBelow") is not None:
                p.value_detectors.append((t, fld, Level(
                    "battery_low", _num(d, "warningBelow", where), False, hyst, "warning")))
            if d.get("criticalBelow") is not None:
                p.value_detectors.append((t, fld, Level(
                    "battery_critical", _num(d, "criticalBelow", where), False, hyst,
                    "critical")))
        elif t == "rate":
            p.value_detectors.append((t, fld, RateOfChange(
                _num(d, "maxPerSecond", where), _num(d, "hysteresisFraction", where, 0.2),
                sev)))
        elif t == "flatline":
            p.value_detectors.append((t, fld, Flatline(
                _num(d, "seconds", where), _num(d, "epsilon", where, 0.0), sev)))
        elif t == "novelty":
            p.value_detectors.append((t, fld, Novelty(novelty, sev)))
        elif t == "silence":
            p.silence = Silence(_num(d, "seconds", where), sev)
        elif t == "rfid":
            known = d.get("knownTags")
            if known is not None and not isinstance(known, list):
                raise DetectorConfigError(f"{where}: knownTags must be a list")
            p.rfid = RfidWatch(known, _num(d, "maxDwellSeconds", where),
                               d.get("unknownSeverity", "warning"),
                               d.get("dwellSeverity", "warning"))
        else:
            raise DetectorConfigError(f"{where}: unknown detector type {t!r}")
    return p


def build_streams(streams: Any, novelty: NoveltyParams) -> dict[str, StreamPipeline]:
    if not isinstance(streams, Mapping):
        raise DetectorConfigError("streams: expected an object of stream -> settings")
    return {name: build_stream(name, spec, novelty) for name, spec in streams.items()}


class Engine:
    """All configured streams of one device plus the alert book. Not thread-safe."""

    def __init__(self, device: str, streams: Mapping[str, Any],
                 novelty: NoveltyParams | None = None,
                 device_silence_s: float | None = None) -> None:
        self.device = device
        self.novelty = novelty or NoveltyParams()
        self.specs = {name: spec for name, spec in streams.items()}
        self.pipes = build_streams(streams, self.novelty)
        self.alerts = AlertBook()
        self.device_silence = Silence(device_silence_s, "critical", "device_silent") \
            if device_silence_s else None
        self.unconfigured = 0  # records of streams nobody configured (counted, passed over)

    # ---------------------------------------------------------------- records in
    def process(self, rec: Record) -> list[Output]:
        out: list[Output] = []
        t_ms = rec.event_wall_ms  # corrected once the clock synced
        if self.device_silence is not None:
            self._alert(out, DEVICE_STREAM, "silence", self.device_silence.seen(t_ms), None)
        pipe = self.pipes.get(rec.stream)
        if pipe is None:
            self.unconfigured += 1
            return out
        if pipe.silence is not None:
            self._alert(out, rec.stream, "silence", pipe.silence.seen(t_ms), None)
        payload = rec.payload
        if pipe.kind == "rfid":
            if pipe.rfid is not None:
                kind, tag = payload.get("kind"), payload.get("tag_id")
                if not isinstance(kind, str) or not isinstance(tag, str):
                    pipe.bad_payloads += 1
                    return out
                for sig in pipe.rfid.observe(t_ms, kind, tag):
                    self._alert(out, rec.stream, "rfid", sig, {"event": dict(payload)})
            return out
        if pipe.kind == "vibration":
            try:
                closed = pipe.window.add(t_ms, payload)  # type: ignore[union-attr]
            except (KeyError, TypeError, ValueError):
                pipe.bad_payloads += 1
                return out
            if closed is not None:
                out.append((derived_stream("aggregate", rec.stream), "aggregate",
                            {"kind": "vibration", "source": rec.stream, **closed}))
            return out
        values = {k: float(v) for k, v in payload.items()
                  if (pipe.fields is None or k in pipe.fields)
                  and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}
        if not values:
            pipe.bad_payloads += 1
            return out
        closed = pipe.window.add(t_ms, values, rec.seq)  # type: ignore[union-attr, call-arg]
        if closed is not None:
            out.append((derived_stream("aggregate", rec.stream), "aggregate",
                        {"kind": "scalar", "source": rec.stream, **closed}))
        for name, fld, det in pipe.value_detectors:
            v = values.get(fld)
            if v is None:
                continue
            sig = det.observe(t_ms, v)
            if sig is not None:
                evidence = pipe.window.peek() if sig.active else None  # type: ignore[union-attr]
                self._alert(out, rec.stream, name, sig, evidence)
        return out

    def tick(self, now_ms: int) -> list[Output]:
        """Time passed without records: close due windows, check silences and dwell times."""
        out: list[Output] = []
        if self.device_silence is not None:
            self._alert(out, DEVICE_STREAM, "silence", self.device_silence.check(now_ms), None)
        for name, pipe in self.pipes.items():
            if pipe.window is not None:
                closed = pipe.window.close_due(now_ms)
                if closed is not None:
                    out.append((derived_stream("aggregate", name), "aggregate",
                                {"kind": pipe.kind, "source": name, **closed}))
            if pipe.silence is not None:
                self._alert(out, name, "silence", pipe.silence.check(now_ms), None)
            if pipe.rfid is not None:
                for sig in pipe.rfid.check(now_ms):
                    self._alert(out, name, "rfid", sig, None)
        return out

    def _alert(self, out: list[Output], stream: str, detector: str, sig: Signal | None,
               evidence: Mapping[str, Any] | None) -> None:
        if sig is None:
            return
        payload = self.alerts.apply(self.device, stream, detector, sig, evidence)
        if payload is not None:
            out.append((derived_stream("alert", stream), "alert", payload))

    # ---------------------------------------------------------------- checkpoint
    def state(self) -> dict[str, Any]:
        return {
            "pipes": {name: p.state() for name, p in self.pipes.items()},
            "specs": self.specs,
            "alerts": self.alerts.state(),
            "device_silence": self.device_silence.state() if self.device_silence else None,
            "unconfigured": self.unconfigured,
        }

    def restore(self, s: Mapping[str, Any], only: set[str] | None = None) -> None:
        """Restore from a checkpoint. Only streams configured exactly as when the checkpoint
        was taken get their state back (with `only`, just those); the rest start fresh."""
        specs = s.get("specs", {})
        for name, ps in s["pipes"].items():
            if name in self.pipes and (only is None or name in only) \
                    and specs.get(name) == self.specs[name]:
                self.pipes[name].restore(ps)
        self.alerts.restore(s["alerts"])
        if self.device_silence is not None and s.get("device_silence") is not None:
            self.device_silence.restore(s["device_silence"])
        self.unconfigured = int(s.get("unconfigured", 0))
