"""The sensors loop: poll each supervised sensor on its interval, commit readings to the log in
batches and health records at once, publish live values best effort."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from components.core.clock import Clock
from components.core.config import Config
from components.core.live import LivePublisher
from components.core.log import BudgetExceeded, Log, NewRecord
from components.sensors.drivers.base import I2CBus
from components.sensors.settings import make_driver
from components.sensors.supervisor import SensorSupervisor

log = logging.getLogger("floorline.sensors")


class SensorService:
    def __init__(self, cfg: Config, store: Log, bus: I2CBus, clock: Clock,
                 sleep: Callable[[float], None], live: LivePublisher | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self.live = live
        self.supervisors = []
        for entry in cfg.sensors:
            driver = make_driver(entry, bus, sleep, vibration_window_s=cfg.vibrationWindowSeconds)
            self.supervisors.append(SensorSupervisor(
                driver, clock, sleep, attempts=cfg.retryAttempts,
                backoff_s=cfg.retryBackoffSeconds, reinit_interval_s=cfg.reinitIntervalSeconds))
        # Each sensor may have its own interval (a vibration sensor more often than a thermometer).
        self.interval_ns = [int(float(e.get("intervalSeconds", cfg.sampleIntervalSeconds)) * 1e9)
                            for e in cfg.sensors]
        self._due = [0] * len(self.supervisors)
        self._pending: list[NewRecord] = []
        self._oldest_ns: int | None = None
        self.committed = 0
        self.refused = 0

    def _stamp(self, stream: str, cls: str, payload: dict[str, Any]) -> NewRecord:
        return NewRecord(stream, cls, payload, mono_ns=self.clock.monotonic_ns(),
                         wall_ms=self.clock.wall_ms())

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

    def cycle(self) -> None:
        """One pass: poll the sensors that are due; commit what is ready."""
        for i, sup in enumerate(self.supervisors):
            now = self.clock.monotonic_ns()
            if now < self._due[i]:
                continue
            self._due[i] = now + self.interval_ns[i]
            result = sup.poll()
            if result.health:
                for h in result.health:
                    log.warning("event=%s sensor=%s detail=%r", h["event"], h["sensor"],
                                h.get("detail"))
                self._commit([self._stamp(sup.health_stream, "health", h)
                              for h in result.health])
            if result.reading is not None:
                self._pending.append(self._stamp(sup.stream, "raw", result.reading))
                if self._oldest_ns is None:
                    self._oldest_ns = now
                if self.live is not None:
                    self.live.publish(sup.stream, result.reading)
        self.flush(force=False)

    def flush(self, force: bool = True) -> None:
        if not self._pending:
            return
        age_ns = self.clock.monotonic_ns() - (self._oldest_ns or 0)
        if force or len(self._pending) >= self.cfg.batchSize or \
                age_ns >= self.cfg.batchMaxSeconds * 1e9:
            batch, self._pending, self._oldest_ns = self._pending, [], None
            self._commit(batch)

    def next_due_s(self) -> float:
        if not self._due:
            return self.cfg.sampleIntervalSeconds
        return max(0.0, (min(self._due) - self.clock.monotonic_ns()) / 1e9)

    def stats(self) -> dict[str, Any]:
        return {"committed": self.committed, "refused": self.refused,
                "pending": len(self._pending),
                "sensors": [s.stats() for s in self.supervisors]}
