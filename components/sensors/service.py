"""The sensors loop: poll each supervised chip on its interval, commit readings to the log in
batches and health records at once, count GPIO inputs, publish live values best effort."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from components.core.clock import Clock
from components.core.component_state import RecordSink
from components.core.live import LivePublisher
from components.core.log import BudgetExceeded, NewRecord
from components.lib.drivers.base import I2CBus
from components.lib.drivers.registry import make_driver
from components.sensors.config import SensorsSettings
from components.sensors.gpio_inputs import GpioInputs
from components.sensors.supervisor import SensorSupervisor

log = logging.getLogger("floorline.sensors")


class SensorService:
    def __init__(
        self,
        cfg: SensorsSettings,
        store: RecordSink,
        bus: I2CBus,
        clock: Clock,
        sleep: Callable[[float], None],
        live: LivePublisher | None = None,
        pin_factory: Any = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self.live = live
        self.supervisors = [
            SensorSupervisor(
                make_driver(chip, bus, sleep),
                clock,
                sleep,
                attempts=cfg.retryAttempts,
                backoff_s=cfg.retryBackoffSeconds,
                reinit_interval_s=cfg.reinitIntervalSeconds,
            )
            for chip in cfg.chips
        ]
        # Each chip may have its own interval (a vibration sensor more often than a thermometer).
        self.interval_ns = [int(c.interval_s(cfg.sampleIntervalSeconds) * 1e9) for c in cfg.chips]
        self._due = [0] * len(self.supervisors)
        # GPIO only when inputs are configured: a machine without pins never touches gpiozero.
        self.gpio = (
            GpioInputs(cfg.gpioInputs, clock, pin_factory, cfg.sampleIntervalSeconds)
            if cfg.gpioInputs
            else None
        )
        self._pending: list[NewRecord] = []
        self._oldest_ns: int | None = None
        self.health_ns = int(cfg.healthIntervalSeconds * 1e9)
        self._next_health_ns = clock.monotonic_ns() + self.health_ns
        self.committed = 0
        self.refused = 0

    def _stamp(self, stream: str, cls: str, payload: dict[str, Any]) -> NewRecord:
        return NewRecord(
            stream, cls, payload, mono_ns=self.clock.monotonic_ns(), wall_ms=self.clock.wall_ms()
        )

    def _commit(self, records: list[NewRecord]) -> None:
        if not records:
            return
        try:
            self.store.append_records(records)
            self.committed += len(records)
        except BudgetExceeded as exc:
            # The log refused and counted it; say so here too, with how many were lost.
            self.refused += len(records)
            log.error("event=log_refused records=%d cls=%s reason=%r", len(records), exc.cls, exc)

    def _reading(self, stream: str, payload: dict[str, Any], now: int) -> None:
        self._pending.append(self._stamp(stream, "raw", payload))
        if self._oldest_ns is None:
            self._oldest_ns = now
        if self.live is not None:
            self.live.publish(stream, payload)

    def cycle(self) -> None:
        """One pass: poll what is due; commit health and events at once, readings in batches."""
        urgent: list[NewRecord] = []
        for i, sup in enumerate(self.supervisors):
            now = self.clock.monotonic_ns()
            if now < self._due[i]:
                continue
            # Next poll one interval after this one was *due*, so late polls do not slow the
            # sampling rate; a chip that fell more than an interval behind starts afresh.
            due = self._due[i] + self.interval_ns[i]
            self._due[i] = due if due > now else now + self.interval_ns[i]
            # A chip that reads over a window (a vibration summary) holds the loop: what is
            # already read must not wait behind it longer than logBatchMaxSeconds.
            if self._would_wait_too_long(now, sup.driver.read_seconds):
                self._commit(urgent)
                urgent = []
                self.flush(force=True)
            result = sup.poll()
            for h in result.health:
                log.warning(
                    "event=%s sensor=%s detail=%r", h["event"], h["sensor"], h.get("detail")
                )
                urgent.append(self._stamp(sup.health_stream, "health", h))
            if result.reading is not None:
                self._reading(sup.stream, result.reading, now)
        if self.gpio is not None:
            now = self.clock.monotonic_ns()
            for p in self.gpio.pulses:
                reading = p.reading(now)
                if reading is not None:
                    self._reading(p.stream, reading, now)
            for ev in self.gpio.take_events():
                urgent.append(
                    NewRecord(
                        ev.stream, "event", ev.payload, mono_ns=ev.mono_ns, wall_ms=ev.wall_ms
                    )
                )
                if self.live is not None:
                    self.live.publish(ev.stream, ev.payload)
        if self.clock.monotonic_ns() >= self._next_health_ns:
            self._next_health_ns = self.clock.monotonic_ns() + self.health_ns
            urgent += [
                self._stamp(s.health_stream, "health", {"event": "sensor_stats", **s.stats()})
                for s in self.supervisors
            ]
        self._commit(urgent)
        self.flush(force=False)

    def _would_wait_too_long(self, now: int, blocked_s: float) -> bool:
        if blocked_s <= 0:
            return False
        oldest = self._oldest_ns if self._pending else None
        age_s = 0.0 if oldest is None else (now - oldest) / 1e9
        return age_s + blocked_s > self.cfg.logBatchMaxSeconds

    def flush(self, force: bool = True) -> None:
        if not self._pending:
            return
        age_ns = self.clock.monotonic_ns() - (self._oldest_ns or 0)
        if (
            force
            or len(self._pending) >= self.cfg.logBatchMaxRecords
            or age_ns >= self.cfg.logBatchMaxSeconds * 1e9
        ):
            batch, self._pending, self._oldest_ns = self._pending, [], None
            self._commit(batch)

    def next_due_s(self) -> float:
        due = list(self._due) + [self._next_health_ns]
        if self.gpio is not None:
            due += [p.due_ns for p in self.gpio.pulses]
            due.append(self.clock.monotonic_ns() + 50_000_000)  # pick up contact events
        if self._pending:
            due.append((self._oldest_ns or 0) + int(self.cfg.logBatchMaxSeconds * 1e9))
        return max(0.0, (min(due) - self.clock.monotonic_ns()) / 1e9)

    def close(self) -> None:
        self.flush()
        if self.gpio is not None:
            self.gpio.close()

    def stats(self) -> dict[str, Any]:
        return {
            "committed": self.committed,
            "refused": self.refused,
            "pending": len(self._pending),
            "sensors": [s.stats() for s in self.supervisors],
        }
