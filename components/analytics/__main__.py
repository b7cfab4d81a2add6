"""The analytics component (Greengrass Run command): `python -m components.analytics`.

Consumes raw readings and events from the durable log with its own named consumer, appends
aggregates and alerts, drives the alarm output, and commits outputs + acknowledgement +
checkpoint in one transaction (state.py). Configuration comes from Greengrass IPC
(GetConfiguration, SubscribeToConfigurationUpdate, through components.core.ipc); an update
that does not validate is rejected, its reasons are logged and recorded as an `event`, and the
configuration in force stays.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from components.analytics import state as checkpoint
from components.analytics.config import (
    BATCH_RECORDS,
    COMMIT_INTERVAL_S,
    COMMIT_RECORDS,
    CONSUMER,
    SPEC,
    STEP_INTERVAL_S,
    WAKE_POLL_S,
    AnalyticsSettings,
)
from components.analytics.detectors import NoveltyParams
from components.analytics.engine import Engine, derived_stream
from components.core import component_state, ipc
from components.core.clock import Clock, SystemClock
from components.core.config import ConfigError, ConfigHolder
from components.core.log import BudgetExceeded, Log
from components.core.log.config import open_log
from components.core.stopping import Stop

log = logging.getLogger("floorline.analytics")
CHECKPOINT_NAME = "analytics"
ALARM_STREAM = "analytics/alarm"  # acknowledgement events this component writes
CONFIG_STREAM = "analytics/config"  # rejected configuration updates, with their reasons
OWN_STREAMS = frozenset({ALARM_STREAM, CONFIG_STREAM})
__all__ = ["SPEC", "Analytics", "watch_configuration", "main"]


class Analytics:
    """The I/O shell around Engine: log in, log out, alarm, configuration."""

    def __init__(
        self,
        lg: Log,
        config: AnalyticsSettings,
        clock: Clock,
        alarm: Any = None,
        batch_records: int = BATCH_RECORDS,
    ) -> None:
        self.log, self.clock, self.alarm = lg, clock, alarm
        self.config = config
        self.batch_records = batch_records
        lg.register_consumer(CONSUMER, classes=("raw", "event"))
        self.commit_failures = 0
        self.commits = 0
        self._restore_committed()
        self._lock = threading.Lock()
        self._pending: AnalyticsSettings | None = None
        self._rejections: list[dict[str, Any]] = []

    def _engine(self, config: AnalyticsSettings) -> Engine:
        return Engine(
            self.log.device,
            config.detectors,
            config.windowSeconds,
            config.silentAfterSeconds or None,
            NoveltyParams.load(),
        )

    def _restore_committed(self) -> None:
        """Engine (and alarm acknowledgements) exactly as of the last commit; work read since
        then is forgotten (the log delivers it again)."""
        self._outputs: list[tuple[str, str, Mapping[str, Any]]] = []
        self._cursor: dict[str, int] = {}
        self._consumed = 0
        self._last_commit_ns = self.clock.monotonic_ns()
        self.engine = self._engine(self.config)
        saved = checkpoint.load(self.log, CHECKPOINT_NAME)
        if saved is not None:
            self.engine.restore(saved)
            if self.alarm is not None and "alarm" in saved:
                self.alarm.restore(saved["alarm"])

    def reconfigure(self, config: AnalyticsSettings) -> None:
        """Called from the IPC thread: applied between steps by the loop."""
        with self._lock:
            self._pending = config

    def reject(self, errors: Mapping[str, str]) -> None:
        """Called from the IPC thread: the update is recorded as an event at the next step."""
        with self._lock:
            self._rejections.append({"type": "config_rejected", "errors": dict(errors)})

    def _apply_pending(self) -> list[tuple[str, str, Mapping[str, Any]]]:
        with self._lock:
            new, self._pending = self._pending, None
            rejected, self._rejections = self._rejections, []
        outputs: list[tuple[str, str, Mapping[str, Any]]] = [
            (CONFIG_STREAM, "event", r) for r in rejected
        ]
        if new is None:
            return outputs
        engine = self._engine(new)
        same = {
            s
            for s in self.engine.pipes
            if self.engine.effective_spec(s) == engine.effective_spec(s)
        }
        for name in self.engine.pipes:
            if name not in same:  # settings changed: close its windows as they are
                outputs.extend(self.engine.flush(name))
        engine.restore(self.engine.state(), only=same)
        engine.dirty.update(engine.pipes)  # their settings are part of what is saved
        now_ms = self.clock.wall_ms()
        for name in self.engine.pipes:  # their detectors restart: their open alerts end here
            if name not in same:
                outputs.extend(
                    (derived_stream("alert", name), "alert", a)
                    for a in engine.alerts.clear_stream(name, now_ms, "configuration changed")
                )
        self.engine, self.config = engine, new
        log.info("event=config_applied streams=%d unchanged=%d", len(engine.pipes), len(same))
        return outputs

    def _alarm_ids(self) -> list[str]:
        return self.engine.alerts.open_at_least(self.config.alarmMinSeverity)

    def step(self, commit: bool = False) -> int:
        """Read, process and (when due, or when `commit`) commit; returns the records read."""
        outputs = self._apply_pending()
        batch = self.log.read(CONSUMER, limit=self.batch_records, after=self._cursor)
        for rec in batch:
            if rec.stream not in OWN_STREAMS:  # our own events come back through the consumer
                outputs.extend(self.engine.process(rec))
        now_ms = self.clock.wall_ms()
        if len(batch) < self.batch_records:
            # Caught up with the log: only now may wall time close windows and notice
            # silences (while a backlog drains, event time alone moves the windows on).
            outputs.extend(self.engine.tick(now_ms))
        if self.alarm is not None:
            outputs.extend((ALARM_STREAM, "event", e) for e in self.alarm.drain_acks(now_ms))
            self.alarm.update(self._alarm_ids())  # local action does not wait for the commit
        self._outputs.extend(outputs)
        for cls, pos in batch.cursor().items():
            self._cursor[cls] = max(pos, self._cursor.get(cls, 0))
        self._consumed += len(batch)
        urgent = any(cls in ("alert", "event") for _, cls, _ in outputs)
        due = self.clock.monotonic_ns() - self._last_commit_ns >= COMMIT_INTERVAL_S * 1e9
        if commit or urgent or due or self._consumed >= COMMIT_RECORDS:
            self.commit()
        return len(batch)

    def commit(self) -> bool:
        """Commit the work read so far: outputs, acknowledgement and changed state parts in
        one transaction. On a refusal (log full) the work is forgotten and read again."""
        self._last_commit_ns = self.clock.monotonic_ns()
        if not self._outputs and not self._cursor:
            return True
        parts = self.engine.state(dirty_only=True)
        if self.alarm is not None:
            parts["alarm"] = self.alarm.state()
        try:
            checkpoint.commit(
                self.log, CHECKPOINT_NAME, CONSUMER, self._cursor, self._outputs, parts
            )
        except BudgetExceeded as exc:
            self.commit_failures += 1
            log.error("event=commit_refused reason=%r failures=%d", str(exc), self.commit_failures)
            self._restore_committed()
            if self.alarm is not None:
                self.alarm.update(self._alarm_ids())
            return False
        self.commits += 1
        self.engine.clear_dirty()
        self._outputs, self._cursor, self._consumed = [], {}, 0
        return True


def watch_configuration(
    comp: Analytics, holder: ConfigHolder[AnalyticsSettings], gg: ipc.Greengrass
) -> None:
    """Follow configuration updates from the nucleus: a valid one is applied between two
    steps; an invalid one is rejected (the configuration in force stays) and its reasons are
    recorded as an `event`, so the cloud that sent it learns why."""

    def changed() -> None:
        error = holder.update(gg.get_configuration())
        if error is None:
            comp.reconfigure(holder.current)
        else:
            comp.reject(error.errors)

    gg.on_configuration_update(changed)


def follow(
    comp: Analytics,
    lg: Log,
    stop: Stop,
    step_interval_s: float = STEP_INTERVAL_S,
    wake_poll_s: float = WAKE_POLL_S,
) -> None:
    """Step until stopped: at once when another process committed to the log (a reading that
    raises an alert must not wait out a timer), and every `step_interval_s` regardless, for
    what is due by time alone (commits, silence). Caught up and nothing committed elsewhere,
    a poll costs one `PRAGMA data_version`."""
    idle_at: int | None = None  # the log's data_version when a step last caught up
    next_step = 0.0
    while not stop.is_set():
        version = lg.data_version()  # before the step: a commit during it shows next time
        now = time.monotonic()
        if version != idle_at or now >= next_step:
            next_step = now + step_interval_s
            if comp.step() >= BATCH_RECORDS:
                idle_at = None  # behind: step again at once
                continue
            idle_at = version
        stop.wait(wake_poll_s)


def main() -> int:  # pragma: no cover - the process shell; its parts are tested
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    gg = ipc.connect()
    try:
        holder = ipc.load_config(SPEC, gg)
    except ConfigError as exc:
        log.error("event=config_invalid errors=%r", exc.errors)
        return 2
    cfg = holder.current
    clock = SystemClock()
    state = component_state.Reporter(cfg.logPath, "Analytics", clock)
    lg = open_log(cfg, ipc.thing_name(), clock)
    alarm = None
    if cfg.alarmPin:
        from components.analytics.actuate import CriticalAlertAlarm

        alarm = CriticalAlertAlarm(cfg.alarmPin, cfg.ackButtonPin or None)
    comp = Analytics(lg, cfg, clock, alarm)
    if gg is not None:
        watch_configuration(comp, holder, gg)
        gg.report_running()
    state.running()
    stop = Stop().on_signals(signal.SIGTERM)
    log.info("event=started consumer=%s streams=%d", CONSUMER, len(cfg.detectors))
    follow(comp, lg, stop)
    comp.commit()
    lg.close()
    if alarm is not None:
        alarm.close()
    state.stopped()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
