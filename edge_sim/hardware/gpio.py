"""World signals onto gpiozero mock pins: a flow meter's pulse train, a door contact."""

from __future__ import annotations

from typing import Any

from components.core.clock import Clock
from edge_sim.world.signals import Pulses


class PulseSource:
    """Drives a MockPin with one high/low edge per pulse of `pulses` up to the clock's now.
    Call `update()` as virtual time advances; edges fire gpiozero callbacks synchronously."""

    def __init__(self, pin: Any, pulses: Pulses, clock: Clock) -> None:
        self.pin = pin
        self.pulses = pulses
        self.clock = clock
        self._t0_ns = clock.monotonic_ns()
        self.sent = 0
        pin.drive_low()

    def update(self) -> int:
        t_s = (self.clock.monotonic_ns() - self._t0_ns) / 1e9
        due = self.pulses.count(t_s)
        for _ in range(due - self.sent):
            self.pin.drive_high()
            self.pin.drive_low()
        new, self.sent = due - self.sent, max(self.sent, due)
        return max(0, new)


class DoorSource:
    """A door contact (closed to ground while shut) following open intervals in seconds."""

    def __init__(self, pin: Any, open_intervals: list[tuple[float, float]], clock: Clock) -> None:
        self.pin = pin
        self.intervals = open_intervals
        self.clock = clock
        self._t0_ns = clock.monotonic_ns()
        self.update()

    def update(self) -> bool:
        t_s = (self.clock.monotonic_ns() - self._t0_ns) / 1e9
        is_open = any(a <= t_s < b for a, b in self.intervals)
        if is_open:
            self.pin.drive_high()
        else:
            self.pin.drive_low()
        return is_open
