"""Inputs: a pulse counter for flow meters, a door contact, the acknowledge button."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from gpiozero import Button, DigitalInputDevice

from components.core.clock import Clock


class PulseCounter:
    """Counts rising edges (e.g. one per barrel or litre). Rate over a sliding window comes
    from the edge times on the injected clock, not from gpiozero's threads."""

    def __init__(
        self,
        pin: int | str,
        clock: Clock,
        *,
        window_s: float = 10.0,
        pull_up: bool = False,
        pin_factory: Any = None,
    ) -> None:
        self.clock = clock
        self.window_ns = int(window_s * 1e9)
        self.count = 0
        self._edges: deque[int] = deque()
        self.dev = DigitalInputDevice(pin, pull_up=pull_up, pin_factory=pin_factory)
        self.dev.when_activated = self._edge

    def _edge(self) -> None:
        self.count += 1
        self._edges.append(self.clock.monotonic_ns())

    def rate_per_s(self) -> float:
        now = self.clock.monotonic_ns()
        while self._edges and now - self._edges[0] > self.window_ns:
            self._edges.popleft()
        return len(self._edges) / (self.window_ns / 1e9)

    def close(self) -> None:
        self.dev.close()


class DoorContact:
    """A reed contact closed (to ground) while the door is shut."""

    def __init__(
        self,
        pin: int | str,
        *,
        on_change: Callable[[bool], None] | None = None,
        pin_factory: Any = None,
    ) -> None:
        self.dev = Button(pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
        self.on_change = on_change
        self.dev.when_pressed = lambda: self._changed(False)
        self.dev.when_released = lambda: self._changed(True)
        self.openings = 0

    @property
    def is_open(self) -> bool:
        return not self.dev.is_pressed

    def _changed(self, opened: bool) -> None:
        self.openings += int(opened)
        if self.on_change:
            self.on_change(opened)

    def close(self) -> None:
        self.dev.close()


class AcknowledgeButton:
    """The technician's push button (to ground); calls `on_press` once per press."""

    def __init__(
        self, pin: int | str, on_press: Callable[[], None], *, pin_factory: Any = None
    ) -> None:
        self.dev = Button(pin, pull_up=True, pin_factory=pin_factory)
        self.dev.when_pressed = on_press

    def close(self) -> None:
        self.dev.close()
