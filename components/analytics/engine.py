"""The analytics pipeline per stream, pure: records in, aggregate and alert payloads out.

Every stream that sends readings gets the built-in defaults: one tumbling window per length in
`windowSeconds` and a silent-sensor alert after `silentAfterSeconds`. The `detectors`
configuration adds per-stream settings:

    {"env/bme280@0x76": {
        "windowSeconds": 60,                      # overrides the global lengths (or a list)
        "kind": "scalar" | "vibration" | "rfid",  # default from the stream name: vib/..., rfid/...
        "sampleRateHz": 400,                      # vibration only (else estimated)
        "fields": ["temperature_c"],              # scalar fields to aggregate (default: all)
        "detectors": [{"type": "threshold", "field": "temperature_c", "high": 40, "low": -5,
                       "hysteresis": 1, "severity": "critical"}, ...]}}

Detector types: threshold (high/low, hysteresis, severity), rate (maxPerSecond,
hysteresisFraction), flatline (seconds, epsilon), novelty (severity), silence (seconds),
battery (warningBelow, criticalBelow, hysteresis), rfid (knownTags, maxDwellSeconds).
`build_stream` validates all of it and raises DetectorConfigError naming stream and problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.analytics.alerts import AlertBook
from components.analytics.detectors import (
    Change,
    DetectorConfigError,
    Flatline,
    Novelty,
    NoveltyParams,
    RateOfChange,
    RfidWatch,
    Silence,
    Threshold,
)
from components.analytics.windows import TumblingWindow, VibrationWindow
from components.core.envelope import Record

KINDS = ("scalar", "vibration", "rfid")
MAX_STREAMS = 256  # streams beyond this many are counted, not tracked (bounded memory)
Output = tuple[str, str, dict[str, Any]]  # (stream, record class, payload)
DEVICE_STREAM = "device/self"  # alerts about the whole device go to alert_device/self
_PREFIX = {"aggregate": "agg", "alert": "alert"}


def derived_stream(cls: str, stream: str) -> str:
    """The log holds one class per stream: aggregates and alerts of `env/bme280@0x76` go to
    `agg_env/bme280@0x76` and `alert_env/bme280@0x76`."""
    return f"{_PREFIX[cls]}_{stream}"


Window = TumblingWindow | VibrationWindow


@dataclass
class StreamPipeline:
    stream: str
    kind: str
    fields: tuple[str, ...] | None
    windows: list[Window]
    # (name, field, detector) for value detectors
    value_detectors: list[tuple[str, str, Any]] = field(default_factory=list)
    silence: Silence | None = None
    rfid: RfidWatch | None = None
    bad_payloads: int = 0

    def state(self) -> dict[str, Any]:
        return {
            "windows": [w.state() for w in self.windows],
            "detectors": [d.state() for _, _, d in self.value_detectors],
            "silence": self.silence.state() if self.silence else None,
            "rfid": self.rfid.state() if self.rfid else None,
            "bad_payloads": self.bad_payloads,
        }

    def restore(self, s: Mapping[str, Any]) -> None:
        for w, ws in zip(self.windows, s["windows"], strict=True):
            w.restore(ws)
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
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise DetectorConfigError(f"{where}: {key} must be a number, got {v!r}")
    return float(v)


def window_lengths(value: Any, where: str) -> list[float]:
    """One length or a list of them, each > 0 s, at most four."""
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > 4:
        raise DetectorConfigError(f"{where}: windowSeconds needs 1 to 4 lengths")
    out = [_num({"windowSeconds": v}, "windowSeconds", where) for v in items]
    if any(v <= 0 for v in out) or len(set(out)) != len(out):
        raise DetectorConfigError(f"{where}: window lengths must be > 0 s and distinct")
    return out


def stream_kind(stream: str, spec: Mapping[str, Any]) -> str:
    kind = spec.get("kind")
    if kind is None:
        kind = (
            "rfid"
            if stream.startswith("rfid/")
            else "vibration"
            if stream.startswith("vib/")
            else "scalar"
        )
    if kind not in KINDS:
        raise DetectorConfigError(f"{stream}: kind {kind!r} is not one of {KINDS}")
    return str(kind)


def build_stream(
    stream: str,
    spec: Mapping[str, Any],
    default_windows_s: Sequence[float],
    silent_after_s: float | None,
    novelty: NoveltyParams,
) -> StreamPipeline:
    if not isinstance(spec, Mapping):
        raise DetectorConfigError(f"{stream}: expected an object")
    kind = stream_kind(stream, spec)
    lengths = (
        window_lengths(spec["windowSeconds"], stream)
        if "windowSeconds" in spec
        else list(default_windows_s)
    )
    fields_ = spec.get("fields")
    if fields_ is not None and (
        not isinstance(fields_, list) or not all(isinstance(f, str) for f in fields_)
    ):
        raise DetectorConfigError(f"{stream}: fields must be a list of names")
    windows: list[Window]
    if kind == "vibration":
        rate = _num(spec, "sampleRateHz", stream)
        windows = [VibrationWindow(s, rate) for s in lengths]
    elif kind == "scalar":
        windows = [TumblingWindow(s) for s in lengths]
    else:
        windows = []
    p = StreamPipeline(stream, kind, tuple(fields_) if fields_ else None, windows)
    if silent_after_s and kind != "rfid":  # readers speak only when a tag passes
        p.silence = Silence(silent_after_s)
    detectors = spec.get("detectors", [])
    if not isinstance(detectors, list):
        raise DetectorConfigError(f"{stream}: detectors must be a list")
    for i, d in enumerate(detectors):
        _add_detector(p, d, f"{stream}: detectors[{i}]", novelty)
    return p


def _add_detector(p: StreamPipeline, d: Any, where: str, novelty: NoveltyParams) -> None:
    if not isinstance(d, Mapping) or "type" not in d:
        raise DetectorConfigError(f"{where}: expected an object with a type")
    t, sev, fld = d["type"], d.get("severity", "warning"), d.get("field", "value")
    if t == "threshold":
        hyst = _num(d, "hysteresis", where, 0.0)
        if d.get("high") is None and d.get("low") is None:
            raise DetectorConfigError(f"{where}: threshold needs high or low")
        if d.get("high") is not None:
            p.value_detectors.append(
                (t, fld, Threshold("high", _num(d, "high", where), True, hyst, sev))
            )
        if d.get("low") is not None:
            p.value_detectors.append(
                (t, fld, Threshold("low", _num(d, "low", where), False, hyst, sev))
            )
    elif t == "battery":
        hyst = _num(d, "hysteresis", where, 0.0)
        fld = d.get("field", "battery_pct")
        if d.get("warningBelow") is not None:
            p.value_detectors.append(
                (
                    t,
                    fld,
                    Threshold(
                        "battery_low", _num(d, "warningBelow", where), False, hyst, "warning"
                    ),
                )
            )
        if d.get("criticalBelow") is not None:
            p.value_detectors.append(
                (
                    t,
                    fld,
                    Threshold(
                        "battery_critical", _num(d, "criticalBelow", where), False, hyst, "critical"
                    ),
                )
            )
    elif t == "rate":
        p.value_detectors.append(
            (
                t,
                fld,
                RateOfChange(
                    _num(d, "maxPerSecond", where), _num(d, "hysteresisFraction", where, 0.2), sev
                ),
            )
        )
    elif t == "flatline":
        p.value_detectors.append(
            (t, fld, Flatline(_num(d, "seconds", where), _num(d, "epsilon", where, 0.0), sev))
        )
    elif t == "novelty":
        p.value_detectors.append((t, fld, Novelty(novelty, sev)))
    elif t == "silence":
        p.silence = Silence(_num(d, "seconds", where), sev)
    elif t == "rfid":
        known = d.get("knownTags")
        if known is not None and (
            not isinstance(known, list) or not all(isinstance(k, str) for k in known)
        ):
            raise DetectorConfigError(f"{where}: knownTags must be a list of tag ids")
        p.rfid = RfidWatch(
            known,
            _num(d, "maxDwellSeconds", where),
            d.get("unknownSeverity", "warning"),
            d.get("dwellSeverity", "warning"),
        )
    else:
        raise DetectorConfigError(f"{where}: unknown detector type {t!r}")


def check_detectors(
    detectors: Any, windows_s: Sequence[float], silent_after_s: float | None, novelty: NoveltyParams
) -> None:
    """Raise DetectorConfigError for the first unusable stream setting."""
    if not isinstance(detectors, Mapping):
        raise DetectorConfigError("expected an object of stream -> settings")
    for name, spec in detectors.items():
        build_stream(name, spec, windows_s, silent_after_s, novelty)


class Engine:
    """All streams of one device plus the alert book. Not thread-safe."""

    def __init__(
        self,
        device: str,
        detectors: Mapping[str, Any],
        windows_s: Sequence[float] = (60.0,),
        silent_after_s: float | None = None,
        novelty: NoveltyParams | None = None,
    ) -> None:
        self.device = device
        self.novelty = novelty or NoveltyParams()
        self.windows_s = [float(w) for w in windows_s]
        self.silent_after_s = silent_after_s or None
        self.specs = {name: spec for name, spec in detectors.items()}
        check_detectors(self.specs, self.windows_s, self.silent_after_s, self.novelty)
        self.pipes: dict[str, StreamPipeline] = {}
        for name in self.specs:
            self._pipe(name)
        self.alerts = AlertBook()
        self.device_silence = (
            Silence(silent_after_s, "critical", "device_silent") if silent_after_s else None
        )
        self.untracked = 0  # records of streams beyond MAX_STREAMS (counted, passed over)
        self.dirty: set[str] = set()  # streams changed since the last checkpoint

    def _pipe(self, stream: str) -> StreamPipeline | None:
        pipe = self.pipes.get(stream)
        if pipe is None:
            if len(self.pipes) >= MAX_STREAMS:
                return None
            pipe = self.pipes[stream] = build_stream(
                stream,
                self.specs.get(stream, {}),
                self.windows_s,
                self.silent_after_s,
                self.novelty,
            )
        return pipe

    def effective_spec(self, stream: str) -> dict[str, Any]:
        """What a stream's state depends on: its settings and the global defaults."""
        return {
            "spec": self.specs.get(stream, {}),
            "windows_s": self.windows_s,
            "silent_after_s": self.silent_after_s,
        }

    # ---------------------------------------------------------------- records in
    def process(self, rec: Record) -> list[Output]:
        out: list[Output] = []
        t_ms = rec.event_wall_ms  # corrected once the clock synced
        if self.device_silence is not None:
            self._alert(out, DEVICE_STREAM, "silence", self.device_silence.seen(t_ms), None)
        pipe = self._pipe(rec.stream)
        if pipe is None:
            self.untracked += 1
            return out
        self.dirty.add(rec.stream)
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
            for w in pipe.windows:
                assert isinstance(w, VibrationWindow)
                try:
                    closed = w.add(t_ms, payload)
                except (KeyError, TypeError, ValueError):
                    pipe.bad_payloads += 1
                    return out
                self._aggregate(out, pipe, w, closed)
            return out
        values = {
            k: float(v)
            for k, v in payload.items()
            if (pipe.fields is None or k in pipe.fields)
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
        }
        if not values:
            pipe.bad_payloads += 1
            return out
        for w in pipe.windows:
            assert isinstance(w, TumblingWindow)
            self._aggregate(out, pipe, w, w.add(t_ms, values, rec.seq))
        for name, fld, det in pipe.value_detectors:
            v = values.get(fld)
            if v is None:
                continue
            sig = det.observe(t_ms, v)
            if sig is not None:
                first = pipe.windows[0] if pipe.windows else None
                evidence = (
                    first.peek() if sig.active and isinstance(first, TumblingWindow) else None
                )
                self._alert(out, rec.stream, name, sig, evidence)
        return out

    def tick(self, now_ms: int) -> list[Output]:
        """Time passed without records: close due windows, check silences and dwell times."""
        out: list[Output] = []
        if self.device_silence is not None:
            self._alert(out, DEVICE_STREAM, "silence", self.device_silence.check(now_ms), None)
        for name, pipe in self.pipes.items():
            before = len(out)
            for w in pipe.windows:
                self._aggregate(out, pipe, w, w.close_due(now_ms))
            if pipe.silence is not None:
                self._alert(out, name, "silence", pipe.silence.check(now_ms), None)
            if pipe.rfid is not None:
                for sig in pipe.rfid.check(now_ms):
                    self._alert(out, name, "rfid", sig, None)
            if len(out) > before:  # a stream's state changes here only with an output
                self.dirty.add(name)
        return out

    def flush(self, stream: str) -> list[Output]:
        """Close a stream's open windows now (its settings are about to change)."""
        out: list[Output] = []
        pipe = self.pipes.get(stream)
        if pipe is None:
            return out
        for w in pipe.windows:
            closed = w.close()
            if closed is not None:
                self._aggregate(out, pipe, w, {**closed, "partial": True})
        return out

    def _aggregate(
        self, out: list[Output], pipe: StreamPipeline, w: Window, closed: dict[str, Any] | None
    ) -> None:
        if closed is not None:
            out.append(
                (
                    derived_stream("aggregate", pipe.stream),
                    "aggregate",
                    {
                        "kind": pipe.kind,
                        "source": pipe.stream,
                        "window_s": w.length_ms / 1000,
                        **closed,
                    },
                )
            )

    def _alert(
        self,
        out: list[Output],
        stream: str,
        detector: str,
        sig: Change | None,
        evidence: Mapping[str, Any] | None,
    ) -> None:
        if sig is None:
            return
        payload = self.alerts.apply(self.device, stream, detector, sig, evidence)
        if payload is not None:
            out.append((derived_stream("alert", stream), "alert", payload))

    # ---------------------------------------------------------------- checkpoint
    def state(self, dirty_only: bool = False) -> dict[str, Any]:
        """The checkpoint in parts: one per stream (all, or only those changed since
        `clear_dirty()`), the alert book and the engine's own counters."""
        names = self.dirty if dirty_only else self.pipes.keys()
        parts: dict[str, Any] = {
            f"stream/{name}": {**self.pipes[name].state(), "spec": self.effective_spec(name)}
            for name in names
            if name in self.pipes
        }
        parts["alerts"] = self.alerts.state()
        parts["engine"] = {
            "device_silence": self.device_silence.state() if self.device_silence else None,
            "untracked": self.untracked,
        }
        return parts

    def clear_dirty(self) -> None:
        self.dirty.clear()

    def restore(self, parts: Mapping[str, Any], only: set[str] | None = None) -> None:
        """Restore from checkpoint parts. Only streams whose settings (and the global
        defaults) are what they were when their part was written get their state back (with
        `only`, just those); the rest start fresh."""
        for key, ps in parts.items():
            if not key.startswith("stream/"):
                continue
            name = key[len("stream/") :]
            if (only is None or name in only) and ps.get("spec") == self.effective_spec(name):
                pipe = self._pipe(name)
                if pipe is not None:
                    pipe.restore(ps)
        if "alerts" in parts:
            self.alerts.restore(parts["alerts"])
        eng = parts.get("engine", {})
        if self.device_silence is not None and eng.get("device_silence") is not None:
            self.device_silence.restore(eng["device_silence"])
        self.untracked = int(eng.get("untracked", 0))
