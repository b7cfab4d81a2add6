"""Clocks and wall-clock trust.

A Raspberry Pi has no RTC: until NTP syncs, the wall clock may say 1970 or the last shutdown
time. Records therefore carry a monotonic timestamp, a wall timestamp and a `clock_synced`
flag. Logic takes a `Clock`; it never reads `time` itself, so tests and edge_sim drive time.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol

# Wall time before this is certainly wrong (the year this code was built).
BUILD_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# A wall/monotonic disagreement larger than this is a clock step, not drift.
JUMP_TOLERANCE_MS = 2_000


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...
    def wall_ms(self) -> int: ...


class SystemClock:
    """The host's clocks."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000


class UnsyncedUntil:
    """The host's clocks, except that the wall clock reads as if never set (the epoch plus
    uptime, as a Pi without RTC or network does) until the monotonic clock passes
    `sync_at_mono_ns`, when "NTP" steps it to the true time. Monotonic time is system-wide, so
    every process on the host sees the same step at the same moment."""

    def __init__(self, sync_at_mono_ns: int) -> None:
        self.sync_at_mono_ns = sync_at_mono_ns

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def wall_ms(self) -> int:
        mono = time.monotonic_ns()
        if mono >= self.sync_at_mono_ns:
            return time.time_ns() // 1_000_000
        return mono // 1_000_000  # 1970-01-01 plus uptime


# edge_sim sets this to a CLOCK_MONOTONIC time (ns): until then the wall clock is unsynced.
UNSYNCED_UNTIL_ENV = "FLOORLINE_SIM_CLOCK_UNSYNCED_UNTIL_NS"


def host_clock(env: dict[str, str] | None = None) -> Clock:
    """The clock components run on: the host's, or an unsynced one in a simulation."""
    env = dict(os.environ) if env is None else env
    until = env.get(UNSYNCED_UNTIL_ENV)
    if until:
        return UnsyncedUntil(int(until))
    return SystemClock()


class ManualClock:
    """A clock that moves only when told to (tests, edge_sim's virtual time). Thread-safe."""

    def __init__(self, wall_ms: int = BUILD_EPOCH_MS, mono_ns: int = 1_000_000_000) -> None:
        self._wall_ms = wall_ms
        self._mono_ns = mono_ns
        self._lock = threading.Lock()

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._mono_ns

    def wall_ms(self) -> int:
        with self._lock:
            return self._wall_ms

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._mono_ns += int(seconds * 1e9)
            self._wall_ms += int(seconds * 1000)

    def set_wall(self, wall_ms: int) -> None:
        """Step the wall clock (an NTP sync, or an operator setting the date)."""
        with self._lock:
            self._wall_ms = wall_ms


@dataclass(frozen=True)
class SyncAnchor:
    """A moment where both clocks were trusted: corrects earlier unsynced wall times."""

    mono_ns: int
    wall_ms: int

    def corrected_wall_ms(self, mono_ns: int) -> int:
        """The true wall time of an instant on the same boot, from its monotonic time."""
        return self.wall_ms - (self.mono_ns - mono_ns) // 1_000_000


class SyncDetector:
    """Decides whether the wall clock can be trusted.

    Unsynced while the wall clock reads before the build date. A step of the wall clock
    relative to the monotonic clock larger than JUMP_TOLERANCE_MS is a sync event (or a
    manual correction): the new wall time is trusted and an anchor is produced so the
    wall time of records written before it can be corrected.

    `external_synced` lets a caller with better knowledge (timedatectl's NTPSynchronized,
    edge_sim's scenario) force the answer.
    """

    def __init__(self, clock: Clock, build_epoch_ms: int = BUILD_EPOCH_MS) -> None:
        self._clock = clock
        self._build_epoch_ms = build_epoch_ms
        self._last: tuple[int, int] | None = None
        self.synced = False
        self.jumps = 0
        self.anchor: SyncAnchor | None = None

    def check(self, external_synced: bool | None = None) -> tuple[bool, SyncAnchor | None]:
        """Observe the clocks. Returns (synced now, new anchor if the clock just synced)."""
        mono, wall = self._clock.monotonic_ns(), self._clock.wall_ms()
        plausible = wall >= self._build_epoch_ms
        jumped = False
        if self._last is not None:
            expected = self._last[1] + (mono - self._last[0]) // 1_000_000
            jumped = abs(wall - expected) > JUMP_TOLERANCE_MS
            if jumped:
                self.jumps += 1
        self._last = (mono, wall)
        was = self.synced
        if external_synced is not None:
            now = external_synced and plausible
        else:
            # No outside signal: a plausible wall clock is trusted (a Pi that booted with NTP
            # already synced must not be flagged forever); a later step re-anchors it.
            now = plausible
        self.synced = now
        new_anchor = None
        if now and (not was or jumped):
            new_anchor = SyncAnchor(mono_ns=mono, wall_ms=wall)
            self.anchor = new_anchor
        return now, new_anchor
