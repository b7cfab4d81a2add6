"""Outputs a technician sees or hears: the status LED and the alarm (LED, buzzer or relay)."""

from __future__ import annotations

from typing import Any

from gpiozero import LED, DigitalOutputDevice

from components.lib.gpio.status import PATTERNS


class StatusLed:
    def __init__(self, pin: int | str, *, pin_factory: Any = None) -> None:
        self.led = LED(pin, pin_factory=pin_factory)
        self.state = "off"

    def show(self, state: str) -> None:
        if state not in PATTERNS:
            raise ValueError(f"status {state!r} is not one of {sorted(PATTERNS)}")
        if state == self.state:
            return  # restarting a blink would reset its phase
        self.state = state
        p = PATTERNS[state]
        if p.steady_on:
            self.led.on()
        elif p.dark:
            self.led.off()
        else:
            self.led.blink(on_time=p.on_s, off_time=p.off_s, background=True)

    def close(self) -> None:
        self.led.close()


class Alarm:
    """A relay, buzzer or LED driven high while an alarm is active; latched until acknowledged
    when `latch` is set, so a transient condition still gets seen."""

    def __init__(
        self,
        pin: int | str,
        *,
        active_high: bool = True,
        latch: bool = True,
        pin_factory: Any = None,
    ) -> None:
        self.out = DigitalOutputDevice(pin, active_high=active_high, pin_factory=pin_factory)
        self.latch = latch
        self.condition = False
        self.raised_count = 0

    @property
    def active(self) -> bool:
        return bool(self.out.value)

    def set_condition(self, alarming: bool) -> None:
        if alarming and not self.condition:
            self.raised_count += 1
        self.condition = alarming
        if alarming:
            self.out.on()
        elif not self.latch:
            self.out.off()

    def acknowledge(self) -> None:
        """A person saw it: release the output unless the condition still holds."""
        if not self.condition:
            self.out.off()

    def close(self) -> None:
        self.out.close()
