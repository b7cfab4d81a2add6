"""Alert lifecycle: a condition raises once, stays open, and clears once.

`AlertBook` turns detector edges (`Change`) into `alert` record payloads. Exactly one alert is
open per condition key `(stream, detector, condition)`: a second raise of an open condition or
a clear of a closed one produces nothing (and is counted). Alert ids are derived from the key
and the raise time, so a replay after a crash produces the same id and the cloud can dedupe.
Pure: no clock, no I/O; the book's state is a dict for the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.analytics.detectors import SEVERITIES, Change


def condition_key(stream: str, detector: str, condition: str) -> str:
    return f"{stream}|{detector}|{condition}"


class AlertBook:
    def __init__(self) -> None:
        self.open: dict[str, dict[str, Any]] = {}
        self.duplicate_raises = 0
        self.orphan_clears = 0

    def apply(
        self,
        device: str,
        stream: str,
        detector: str,
        signal: Change,
        evidence: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """The alert payload to record for this edge, or None if it changes nothing."""
        key = condition_key(stream, detector, signal.condition)
        if signal.active:
            if key in self.open:
                self.duplicate_raises += 1
                return None
            alert = {
                "alert_id": f"{device}|{key}|{signal.t_ms}",
                "state": "raised",
                "device": device,
                "stream": stream,
                "detector": detector,
                "condition": signal.condition,
                "severity": signal.severity,
                "raised_ms": signal.t_ms,
                "value": signal.value,
                "reason": signal.reason,
                "evidence": dict(evidence) if evidence is not None else None,
            }
            self.open[key] = alert
            return dict(alert)
        opened = self.open.pop(key, None)
        if opened is None:
            self.orphan_clears += 1
            return None
        return {
            **{
                k: opened[k]
                for k in (
                    "alert_id",
                    "device",
                    "stream",
                    "detector",
                    "condition",
                    "severity",
                    "raised_ms",
                )
            },
            "state": "cleared",
            "cleared_ms": signal.t_ms,
            "value": signal.value,
            "reason": signal.reason,
        }

    def clear_stream(self, stream: str, t_ms: int, reason: str) -> list[dict[str, Any]]:
        """Clear every open alert of `stream` (its detectors were replaced)."""
        out = []
        for key in [k for k, a in self.open.items() if a["stream"] == stream]:
            a = self.open[key]
            out.append(
                self.apply(
                    a["device"],
                    stream,
                    a["detector"],
                    Change(a["condition"], False, a["severity"], t_ms, None, reason),
                    None,
                )
            )
        return [a for a in out if a is not None]

    def open_at_least(self, severity: str) -> list[str]:
        """Ids of open alerts of this severity or higher."""
        rank = SEVERITIES.index(severity)
        return sorted(
            a["alert_id"] for a in self.open.values() if SEVERITIES.index(a["severity"]) >= rank
        )

    def state(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "duplicate_raises": self.duplicate_raises,
            "orphan_clears": self.orphan_clears,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.open = {k: dict(v) for k, v in state["open"].items()}
        self.duplicate_raises = int(state["duplicate_raises"])
        self.orphan_clears = int(state["orphan_clears"])
