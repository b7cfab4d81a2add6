"""Local action: open critical alerts drive the alarm output; the technician's button
acknowledges them on the spot.

Pins come from a gpiozero pin factory chosen at run time (lgpio on a Pi, MockFactory in tests
and edge_sim). The button callback runs on gpiozero's thread, so it only queues the press;
the component's loop calls `drain_acks()` and records each acknowledgement as an `event`.
The alarm is on while some open critical alert has not been acknowledged; a new critical
alert turns it on again.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from typing import Any

from gpiozero import Button, DigitalOutputDevice


class CriticalAlertAlarm:
    """The alarm output, on while an open critical alert is unacknowledged, and the button
    that acknowledges them."""

    def __init__(
        self,
        alarm_pin: int | str,
        ack_pin: int | str | None = None,
        pin_factory: Any = None,
        active_high: bool = True,
    ) -> None:
        self.output = DigitalOutputDevice(
            alarm_pin, active_high=active_high, pin_factory=pin_factory
        )
        self.button = None
        if ack_pin is not None:
            self.button = Button(ack_pin, pull_up=True, pin_factory=pin_factory)
            self.button.when_pressed = self._pressed
        self._presses: queue.Queue[None] = queue.Queue()
        self.critical: set[str] = set()
        self.acknowledged: set[str] = set()

    def _pressed(self) -> None:
        self._presses.put(None)

    def update(self, open_critical: Iterable[str]) -> bool:
        """Set the output from the open critical alerts; returns whether it is on."""
        self.critical = set(open_critical)
        self.acknowledged &= self.critical  # cleared alerts need no acknowledgement
        on = bool(self.critical - self.acknowledged)
        if on != bool(self.output.value):
            self.output.value = on
        return on

    def drain_acks(self, now_ms: int) -> list[dict[str, Any]]:
        """One `event` payload per button press since the last call (pure bookkeeping)."""
        events = []
        while True:
            try:
                self._presses.get_nowait()
            except queue.Empty:
                break
            pending = sorted(self.critical - self.acknowledged)
            self.acknowledged |= set(pending)
            events.append(
                {
                    "type": "alarm_acknowledged",
                    "source": "button",
                    "alert_ids": pending,
                    "wall_ms": now_ms,
                }
            )
        self.update(self.critical)
        return events

    @property
    def on(self) -> bool:
        return bool(self.output.value)

    def state(self) -> dict[str, Any]:
        return {"acknowledged": sorted(self.acknowledged)}

    def restore(self, state: dict[str, Any]) -> None:
        self.acknowledged = set(state["acknowledged"])
        self.critical = set(self.acknowledged)  # they were open when acknowledged

    def close(self) -> None:
        self.output.close()
        if self.button is not None:
            self.button.close()
