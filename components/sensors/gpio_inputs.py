"""GPIO inputs of the sensors component: flow-meter pulse counts as readings; door contacts and
buttons as events. gpiozero calls back on its own threads; events wait in a queue until the
service loop commits them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from components.core.clock import Clock
from components.sensors.config import GpioInput


@dataclass(frozen=True, slots=True)
class InputEvent:
    stream: str
    payload: dict[str, Any]
    mono_ns: int
    wall_ms: int


def _gpio() -> Any:
    """components.lib.gpio.inputs, imported on first use: it imports gpiozero (about 9 MiB
    resident), which Sensors without GPIO inputs (the default configuration) never needs."""
    from components.lib.gpio import inputs

    return inputs


class PulseInput:
    def __init__(self, entry: GpioInput, clock: Clock, pin_factory: Any, interval_s: float) -> None:
        self.stream = entry.stream
        self.clock = clock
        self.interval_ns = int(entry.interval_s(interval_s) * 1e9)
        self.counter = _gpio().PulseCounter(
            entry.pin, clock, window_s=self.interval_ns / 1e9, pin_factory=pin_factory
        )
        self.last_count = 0
        self.last_ns = clock.monotonic_ns()
        self.due_ns = self.last_ns + self.interval_ns

    def reading(self, now_ns: int) -> dict[str, Any] | None:
        """Pulses since the previous reading, once per interval."""
        if now_ns < self.due_ns:
            return None
        count = self.counter.count
        elapsed_s = max((now_ns - self.last_ns) / 1e9, 1e-9)
        out = {
            "count": count,
            "pulses": count - self.last_count,
            "rate_per_s": (count - self.last_count) / elapsed_s,
        }
        self.last_count, self.last_ns = count, now_ns
        self.due_ns = now_ns + self.interval_ns
        return out

    def close(self) -> None:
        self.counter.close()


class GpioInputs:
    def __init__(
        self,
        entries: Sequence[GpioInput],
        clock: Clock,
        pin_factory: Any,
        interval_s: float,
    ) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._events: list[InputEvent] = []
        self.pulses: list[PulseInput] = []
        self._devices: list[Any] = []
        for e in entries:
            if e.kind == "pulse":
                self.pulses.append(PulseInput(e, clock, pin_factory, interval_s))
            elif e.kind == "contact":
                self._devices.append(
                    _gpio().DoorContact(
                        e.pin,
                        on_change=self._emitter(
                            e.stream, lambda opened: {"event": "opened" if opened else "closed"}
                        ),
                        pin_factory=pin_factory,
                    )
                )
            else:
                emit = self._emitter(e.stream, lambda _: {"event": "pressed"})
                self._devices.append(
                    _gpio().AcknowledgeButton(e.pin, partial(emit, None), pin_factory=pin_factory)
                )

    def _emitter(
        self, stream: str, payload: Callable[[Any], dict[str, Any]]
    ) -> Callable[[Any], None]:
        def emit(arg: Any) -> None:
            event = InputEvent(
                stream, payload(arg), self.clock.monotonic_ns(), self.clock.wall_ms()
            )
            with self._lock:
                self._events.append(event)

        return emit

    def take_events(self) -> list[InputEvent]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def close(self) -> None:
        for p in self.pulses:
            p.close()
        for d in self._devices:
            d.close()
