"""The analytics pipeline per stream, pure: records in, aggregate and alert payloads out.

Every stream that sends readings gets the built-in defaults: one tumbling window per length in
`windowSeconds` and a silent-sensor alert after `silentAfterSeconds`. The `detectors`
configuration adds per-stream settings, parsed (and validated) once into `StreamSettings`
(streams.py); `build_stream` builds a stream's pipeline from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from components.analytics.alerts import AlertBook
from components.analytics.detectors import (
    Change,
    Flatline,
    Novelty,
    NoveltyParams,
    RateOfChange,
    RfidWatch,
    Silence,
    Threshold,
)
from components.analytics.streams import (
    BatteryEntry,
    DetectorEntry,
    FlatlineEntry,
    NoveltyEntry,
    RateEntry,
    RfidEntry,
    SilenceEntry,
    StreamSettings,
    ThresholdEntry,
    parse_stream,
)
from components.analytics.windows import TumblingWindow, VibrationWindow
from components.core.envelope import Record

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


def build_stream(
    stream: str,
    settings: StreamSettings,
    default_windows_s: Sequence[float],
    silent_after_s: float | None,
    novelty: NoveltyParams,
) -> StreamPipeline:
    """A stream's pipeline (fresh state) from its parsed settings."""
    lengths = settings.window_seconds or tuple(default_windows_s)
    windows: list[Window]
    if settings.kind == "vibration":
        windows = [VibrationWindow(s, settings.sample_rate_hz) for s in lengths]
    elif settings.kind == "scalar":
        windows = [TumblingWindow(s) for s in lengths]
    else:
        windows = []
    p = StreamPipeline(stream, settings.kind, settings.fields, windows)
    if silent_after_s and settings.kind != "rfid":  # readers speak only when a tag passes
        p.silence = Silence(silent_after_s)
    for entry in settings.detectors:
        _add_detector(p, entry, novelty)
    return p


def _add_detector(p: StreamPipeline, d: DetectorEntry, novelty: NoveltyParams) -> None:
    match d:
        case ThresholdEntry():
            if d.high is not None:
                p.value_detectors.append(
                    (
                        "threshold",
                        d.field,
                        Threshold("high", d.high, True, d.hysteresis, d.severity),
                    )
                )
            if d.low is not None:
                p.value_detectors.append(
                    ("threshold", d.field, Threshold("low", d.low, False, d.hysteresis, d.severity))
                )
        case BatteryEntry():
            if d.warning_below is not None:
                low = Threshold("battery_low", d.warning_below, False, d.hysteresis, "warning")
                p.value_detectors.append(("battery", d.field, low))
            if d.critical_below is not None:
                critical = Threshold(
                    "battery_critical", d.critical_below, False, d.hysteresis, "critical"
                )
                p.value_detectors.append(("battery", d.field, critical))
        case RateEntry():
            rate = RateOfChange(d.max_per_second, d.hysteresis_fraction, d.severity)
            p.value_detectors.append(("rate", d.field, rate))
        case FlatlineEntry():
            flat = Flatline(d.seconds, d.epsilon, d.severity)
            p.value_detectors.append(("flatline", d.field, flat))
        case NoveltyEntry():
            p.value_detectors.append(("novelty", d.field, Novelty(novelty, d.severity)))
        case SilenceEntry():
            p.silence = Silence(d.seconds, d.severity)
        case RfidEntry():
            p.rfid = RfidWatch(
                d.known_tags, d.max_dwell_seconds, d.unknown_severity, d.dwell_severity
            )
        case _:
            assert_never(d)


class Engine:
    """All streams of one device plus the alert book. Not thread-safe."""

    def __init__(
        self,
        device: str,
        streams: Mapping[str, StreamSettings],
        windows_s: Sequence[float] = (60.0,),
        silent_after_s: float | None = None,
        novelty: NoveltyParams | None = None,
    ) -> None:
        self.device = device
        self.novelty = novelty or NoveltyParams()
        self.windows_s = [float(w) for w in windows_s]
        self.silent_after_s = silent_after_s or None
        self.streams = dict(streams)
        self.pipes: dict[str, StreamPipeline] = {}
        for name in self.streams:
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
            settings = self.streams.get(stream) or parse_stream(stream, {})
            pipe = self.pipes[stream] = build_stream(
                stream,
                settings,
                self.windows_s,
                self.silent_after_s,
                self.novelty,
            )
        return pipe

    def effective_spec(self, stream: str) -> dict[str, Any]:
        """What a stream's state depends on: its settings (as configured) and the global
        defaults. Saved with the stream's state, in this shape."""
        settings = self.streams.get(stream)
        return {
            "spec": settings.source if settings is not None else {},
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
