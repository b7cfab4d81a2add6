"""What the status LED shows, decided by a pure function of the log's stats and sensor health.

- `online`: steady on. All well: data is reaching the cloud.
- `offline-buffering`: slow blink, 1 s on / 1 s off. No recent uplink: data is kept on disk,
  nothing is lost.
- `fault`: fast blink, 0.1 s / 0.1 s. A person is needed: a sensor or reader is faulty, or
  the log refuses records (disk or budget full).
- `off`: dark. floorline is not running (or the LED is not wired).

`fault` wins over `offline-buffering`, which wins over `online`. Whatever drives the pin calls
`led_state(...)` and shows the result (`show(led, state)` for a gpiozero LED, or
`components.lib.gpio.outputs.StatusLed`). This module
touches no hardware and reads no clock: the caller passes `now_wall_ms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

# Health events that decide whether a source is faulty or fine: one home, in core.
from components.core.component_state import CLEAR_EVENTS, FAULT_EVENTS

ONLINE: Final = "online"
OFFLINE_BUFFERING: Final = "offline-buffering"
FAULT: Final = "fault"
OFF: Final = "off"

# A backlog whose oldest unsent record is older than this means the uplink is not getting
# through (a healthy uplink drains within seconds to a minute).
DEFAULT_OFFLINE_AFTER_S: Final = 300.0


@dataclass(frozen=True, slots=True)
class Pattern:
    """How the LED is driven: steady on, dark, or blinking with these on/off times."""

    on_s: float | None  # None with off_s None: steady on
    off_s: float | None  # None with on_s 0.0: dark

    @property
    def steady_on(self) -> bool:
        return self.on_s is None and self.off_s is None

    @property
    def dark(self) -> bool:
        return self.on_s == 0.0 and self.off_s is None


PATTERNS: Final[Mapping[str, Pattern]] = {
    ONLINE: Pattern(None, None),
    OFFLINE_BUFFERING: Pattern(1.0, 1.0),
    FAULT: Pattern(0.1, 0.1),
    OFF: Pattern(0.0, None),
}

MEANINGS: Final[Mapping[str, str]] = {
    ONLINE: "steady on: all well, data is reaching the cloud",
    OFFLINE_BUFFERING: "slow blink: no recent uplink, data is kept on disk (nothing lost)",
    FAULT: "fast blink: needs a person (faulty sensor or the log refuses records)",
    OFF: "dark: floorline is not running",
}


@dataclass(frozen=True, slots=True)
class LedDecision:
    state: str
    reasons: tuple[str, ...]

    @property
    def meaning(self) -> str:
        return MEANINGS[self.state]


def health_state(payloads: Sequence[Mapping[str, Any]]) -> tuple[str, Mapping[str, Any] | None]:
    """("faulty" | "ok" | "unknown", the deciding payload) from a health stream's payloads,
    oldest first: the latest fault or recovery event decides; else a `state` field."""
    for payload in reversed(payloads):
        event = payload.get("event")
        if event in FAULT_EVENTS:
            return "faulty", payload
        if event in CLEAR_EVENTS:
            return "ok", payload
        if payload.get("state") in ("faulty", "ok"):
            return payload["state"], payload
    return "unknown", payloads[-1] if payloads else None


def faulty_streams(health: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """Health streams whose latest deciding record says faulty. `health` maps each health
    stream to its payloads still held in the log, oldest first."""
    return sorted(s for s, payloads in health.items() if health_state(payloads)[0] == "faulty")


def oldest_unsent_wall_ms(stats: Mapping[str, Any], uplink_prefix: str = "uplink") -> int | None:
    """Wall time of the oldest record an uplink consumer has not acknowledged yet."""
    oldest: int | None = None
    for consumer, per_cls in (stats.get("backlog") or {}).items():
        if not consumer.startswith(uplink_prefix):
            continue
        for entry in per_cls.values():
            w = entry.get("oldest_wall_ms")
            if entry.get("records") and w is not None and (oldest is None or w < oldest):
                oldest = w
    return oldest


def refused_records(stats: Mapping[str, Any]) -> int:
    """Appends the log refused because it was full (all classes)."""
    counters = stats.get("counters") or {}
    return sum(v for k, v in counters.items() if k.startswith("rejected_full."))


def log_out_of_room(stats: Mapping[str, Any], margin: float = 0.95) -> bool:
    """The log is at its byte budget or the disk is at its free-space floor."""
    used, budget = stats.get("used_bytes") or 0, stats.get("budget_bytes") or 0
    free, floor = stats.get("free_disk_bytes"), stats.get("free_floor_bytes") or 0
    if budget and used >= budget * margin:
        return True
    return free is not None and free <= floor / margin


def led_state(
    stats: Mapping[str, Any],
    health: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    now_wall_ms: int,
    offline_after_s: float = DEFAULT_OFFLINE_AFTER_S,
    uplink_prefix: str = "uplink",
) -> LedDecision:
    """The LED state from `Log.stats()` and the health payloads per health stream (oldest
    first, as `faulty_streams` takes them).

    "The log refuses appends" means it has refused records and is still out of room: the
    refusal counter only grows, so once space is back (records delivered or evicted) the
    fault clears, while the count stays visible in `floorline status`."""
    reasons: list[str] = []
    faulty = faulty_streams(health)
    if faulty:
        reasons.append("faulty: " + ", ".join(faulty))
    refused = refused_records(stats)
    if refused > 0 and log_out_of_room(stats):
        reasons.append(f"log refused {refused} records and is still full")
    if reasons:
        return LedDecision(FAULT, tuple(reasons))
    oldest = oldest_unsent_wall_ms(stats, uplink_prefix)
    if oldest is not None:
        age_s = (now_wall_ms - oldest) / 1000
        if age_s > offline_after_s:
            return LedDecision(OFFLINE_BUFFERING, (f"oldest unsent record is {age_s:.0f} s old",))
    return LedDecision(ONLINE, ())


class _Led(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...
    def blink(self, on_time: float, off_time: float, n: int | None, background: bool) -> None: ...


def show(led: _Led, state: str) -> None:
    """Drive a gpiozero `LED` (or anything with on/off/blink) with the pattern of `state`."""
    pattern = PATTERNS[state]
    if pattern.steady_on:
        led.on()
    elif pattern.dark:
        led.off()
    else:
        assert pattern.on_s is not None and pattern.off_s is not None
        led.blink(on_time=pattern.on_s, off_time=pattern.off_s, n=None, background=True)
