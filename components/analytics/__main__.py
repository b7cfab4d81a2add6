"""The analytics component (Greengrass Run command): `python -m components.analytics`.

Consumes raw readings and events from the durable log with its own named consumer, appends
aggregates and alerts, drives the alarm output, and commits outputs + acknowledgement +
checkpoint in one transaction (state.py). Configuration comes from Greengrass IPC
(GetConfiguration, SubscribeToConfigurationUpdate); an update that does not validate is
rejected with its reason (SubscribeToValidateConfigurationUpdates) and the configuration in
force stays.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from components.analytics import state as checkpoint
from components.analytics.detectors import DetectorConfigError, NoveltyParams
from components.analytics.engine import Engine, build_streams, derived_stream
from components.core.clock import Clock, SystemClock
from components.core.config import Config, ConfigHolder, Key, Spec
from components.core.log import BudgetExceeded, Log

log = logging.getLogger("floorline.analytics")
CHECKPOINT_NAME = "analytics"
ALARM_STREAM = "analytics/alarm"  # acknowledgement events this component writes


def _check_streams(value: Any) -> Any:
    try:
        build_streams(value, NoveltyParams.load())
    except DetectorConfigError as exc:
        raise ValueError(str(exc)) from exc
    return value


SPEC = Spec(
    Key("logPath", str, "/var/lib/floorline/log.db", "the device's durable log"),
    Key("consumerName", str, "analytics", "this component's consumer name in the log"),
    Key("batchSize", int, 500, "records read per step", min=1, max=5000),
    Key("pollIntervalSeconds", float, 1.0, "sleep when the log has nothing new", min=0.01,
        max=60),
    Key("deviceSilentSeconds", float, 0.0, "alert when no reading at all for this long (0 off)",
        min=0),
    Key("alarmPin", int, -1, "GPIO (BCM) of the alarm output; -1 for none", min=-1, max=53),
    Key("ackPin", int, -1, "GPIO (BCM) of the acknowledge button; -1 for none", min=-1, max=53),
    Key("streams", dict, {}, "per-stream windows and detectors (see README)",
        check=_check_streams),
)


class Component:
    """The I/O shell around Engine: log in, log out, alarm, configuration."""

    def __init__(self, lg: Log, config: Config, clock: Clock, alarm: Any = None) -> None:
        self.log, self.clock, self.alarm = lg, clock, alarm
        self.config = config
        self.consumer = config.consumerName
        lg.register_consumer(self.consumer, classes=("raw", "event"))
        self.commit_failures = 0
        self._restore_committed()
        self._lock = threading.Lock()
        self._pending: Config | None = None

    def _restore_committed(self) -> None:
        """Engine (and alarm acknowledgements) exactly as of the last committed step."""
        self.engine = self._engine(self.config)
        saved = checkpoint.load(self.log, CHECKPOINT_NAME)
        if saved is not None:
            self.engine.restore(saved)
            if self.alarm is not None and "alarm" in saved:
                self.alarm.restore(saved["alarm"])

    def _engine(self, config: Config) -> Engine:
        return Engine(self.log.device, config.streams, NoveltyParams.load(),
                      config.deviceSilentSeconds or None)

    def reconfigure(self, config: Config) -> None:
        """Called from the IPC thread: applied between steps by the loop."""
        with self._lock:
            self._pending = config

    def _apply_pending(self) -> list[tuple[str, str, Mapping[str, Any]]]:
        with self._lock:
            new, self._pending = self._pending, None
        if new is None:
            return []
        old_streams = self.config.streams
        saved = self.engine.state()
        outputs: list[tuple[str, str, Mapping[str, Any]]] = []
        engine = self._engine(new)
        same = {s for s, spec in new.streams.items() if old_streams.get(s) == spec}
        for name, pipe in self.engine.pipes.items():  # changed streams: emit their partial window
            if name not in same and pipe.window is not None:
                closed = pipe.window.close()
                if closed is not None:
                    outputs.append((derived_stream("aggregate", name), "aggregate",
                                    {"kind": pipe.kind, "source": name, "partial": True,
                                     **closed}))
        engine.restore(saved, only=same)
        self.engine, self.config = engine, new
        log.info("event=config_applied streams=%d unchanged=%d", len(new.streams), len(same))
        return outputs

    def step(self) -> int:
        """One read-process-commit step; returns how many records were consumed."""
        outputs = self._apply_pending()
        batch = self.log.read(self.consumer, limit=self.config.batchSize)
        for rec in batch:
            if rec.stream != ALARM_STREAM:  # our own events come back through the consumer
                outputs.extend(self.engine.process(rec))
        now_ms = self.clock.wall_ms()
        if len(batch) < self.config.batchSize:
            # Caught up with the log: only now may wall time close windows and notice
            # silences (while a backlog drains, event time alone moves the windows on).
            outputs.extend(self.engine.tick(now_ms))
        events = []
        if self.alarm is not None:
            events = self.alarm.drain_acks(now_ms)
            self.alarm.update(self.engine.alerts.open_critical())
        outputs.extend((ALARM_STREAM, "event", e) for e in events)
        state = self.engine.state()
        if self.alarm is not None:
            state["alarm"] = self.alarm.state()
        if batch or outputs:
            try:
                checkpoint.commit(self.log, CHECKPOINT_NAME, self.consumer, batch.cursor(),
                                  outputs, state)
            except BudgetExceeded as exc:
                # Nothing was written: forget this step's effects; the same records come again.
                self.commit_failures += 1
                log.error("event=commit_refused reason=%r failures=%d", str(exc),
                          self.commit_failures)
                self._restore_committed()
                return 0
        if self.alarm is not None:
            self.alarm.update(self.engine.alerts.open_critical())
        return len(batch)


def _ipc_config(client: Any) -> dict[str, Any]:
    resp = client.get_configuration(key_path=[])
    return dict(resp.value or {})


def main() -> int:  # pragma: no cover - the Greengrass shell; the parts are tested
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import (
        ConfigurationValidityReport,
        ConfigurationValidityStatus,
    )

    client = GreengrassCoreIPCClientV2()
    holder = ConfigHolder(SPEC, _ipc_config(client))
    cfg = holder.current
    clock = SystemClock()
    lg = Log.open(cfg.logPath, device=os.environ.get("AWS_IOT_THING_NAME", "local"), clock=clock)
    alarm = None
    if cfg.alarmPin >= 0:
        from components.analytics.actuate import Alarm

        alarm = Alarm(cfg.alarmPin, cfg.ackPin if cfg.ackPin >= 0 else None)
    comp = Component(lg, cfg, clock, alarm)

    def on_validate(event: Any) -> None:
        proposed = event.validate_configuration_updates_event.configuration
        try:
            SPEC.parse(proposed)
            status, message = ConfigurationValidityStatus.ACCEPTED, "ok"
        except ValueError as exc:
            status, message = ConfigurationValidityStatus.REJECTED, str(exc)
            log.warning("event=config_rejected reason=%r", message)
        client.send_configuration_validity_report(
            configuration_validity_report=ConfigurationValidityReport(
                status=status, deployment_id=event.validate_configuration_updates_event
                .deployment_id, message=message))

    def on_update(_event: Any) -> None:
        error = holder.update(_ipc_config(client))
        if error is None:
            comp.reconfigure(holder.current)
        else:
            log.warning("event=config_update_ignored reason=%r", json.dumps(error.errors))

    client.subscribe_to_validate_configuration_updates(on_stream_event=on_validate)
    client.subscribe_to_configuration_update(key_path=[], on_stream_event=on_update)
    stop = threading.Event()
    log.info("event=started consumer=%s streams=%d", cfg.consumerName, len(cfg.streams))
    while not stop.is_set():
        if comp.step() == 0:
            stop.wait(comp.config.pollIntervalSeconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
