"""The two destinations: IoT Core through the nucleus, Kinesis through Stream Manager.

When the log's offset advances (the delivery guarantee, stated per destination):

* IoT Core: after `PublishToIoTCore` returned, i.e. the nucleus has *spooled* the message
  (QoS 1). From there the nucleus owns delivery; a nucleus with the disk spooler keeps it
  across restarts, the default memory spool does not (see the README).
* Kinesis: after `AppendMessage` returned, i.e. Stream Manager has persisted the batch in
  its message stream (persistence File); its export retries until Kinesis accepts it.

Both are at-least-once end to end: a crash between the hand-over and the acknowledgement
sends the same records again, and the cloud removes duplicates by (device, stream, seq).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from components.core import batch
from components.core.clock import Clock
from components.core.config import ConfigHolder
from components.core.log import Log, ReadBatch
from components.uplink.config import UplinkSettings
from components.uplink.flow import Backoff, Pacer
from components.uplink.plan import Message, plan
from components.uplink.reading import approx_bytes, read_bounded

log = logging.getLogger("floorline.uplink")

IOT_CONSUMER = "uplink-iot"
KINESIS_CONSUMER = "uplink-kinesis"
IOT_CLASSES = ("alert", "event", "aggregate", "health")
# Memory the senders together may hold in decoded records per read, shared by those running
# (components/uplink/reading.py): with Kinesis 512 KiB each, about 1,000 raw sensor records
# per append; without, the IoT Core sender's batches of raw readings get all of it.
READ_BUDGET_BYTES = 1024 * 1024


class _Sender:
    consumer: str
    read_limit: int
    read_budget_bytes: int

    def __init__(
        self,
        lg: Log,
        config: ConfigHolder[UplinkSettings],
        clock: Clock,
        sleep: Callable[[float], Any],
        rng: random.Random,
    ) -> None:
        self.log = lg
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.backoff = Backoff(cap_s=config.current.backoffMaxSeconds, rng=rng)
        self.sent_records = 0
        self.sent_messages = 0
        self.sent_bytes = 0
        self.errors: Counter[str] = Counter()
        self.last_success_wall_ms: int | None = None
        # (the log's data_version at a read that left nothing to do, until when): while no
        # other process commits and that time has not come, a poll need not read again.
        self._quiet: tuple[int, float] | None = None
        self._read_version = -1

    def _read(self, classes: tuple[str, ...]) -> ReadBatch | None:
        """What is pending, or None without reading while the last read left nothing to do
        and no other process has committed since (most polls of an idle uplink: one
        `PRAGMA data_version` each, so polls can be frequent and a new alert goes out soon)."""
        version = self.log.data_version()  # before the read: a commit during it shows next time
        if (
            self._quiet is not None
            and self._quiet[0] == version
            and self._now_s() < self._quiet[1]
            and not self._woken()
        ):
            return None
        pending = read_bounded(
            self.log, self.consumer, classes,
            max_records=self.read_limit, max_bytes=self.read_budget_bytes,
        )  # fmt: skip
        self._read_version = version
        self._quiet = None if pending else (version, math.inf)
        return pending

    def _nothing_due_until(self, when_s: float) -> None:
        """What the last read found waits until `when_s` (or another process's commit)."""
        self._quiet = (self._read_version, when_s)

    def _woken(self) -> bool:
        """Something other than a commit asks for a read now (a flush request)."""
        return False

    def _now_s(self) -> float:
        return self.clock.monotonic_ns() / 1e9

    def _failed(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.errors[kind] += 1
        wait = self.backoff.next_s()
        log.warning(
            "event=send_failed consumer=%s error=%s detail=%r retry_in_s=%.2f",
            self.consumer,
            kind,
            str(exc)[:200],
            wait,
        )
        self.sleep(wait)

    def _delivered(self, cls: str, pos: int, records: int, size: int) -> None:
        self.log.ack_positions(self.consumer, {cls: pos})
        self.backoff.reset()
        self.sent_records += records
        self.sent_messages += 1
        self.sent_bytes += size
        self.last_success_wall_ms = self.clock.wall_ms()

    def stats(self) -> dict[str, Any]:
        return {
            "records": self.sent_records,
            "messages": self.sent_messages,
            "bytes": self.sent_bytes,
            "errors": dict(self.errors),
            "last_success_wall_ms": self.last_success_wall_ms,
        }


class IotCoreSender(_Sender):
    consumer = IOT_CONSUMER

    def __init__(
        self,
        lg: Log,
        publish: Callable[[str, bytes], None],
        config: ConfigHolder[UplinkSettings],
        *,
        thing: str,
        clock: Clock,
        sleep: Callable[[float], Any] = time.sleep,
        rng: random.Random | None = None,
        read_limit: int = 5000,
        read_budget_bytes: int = READ_BUDGET_BYTES // 2,
    ) -> None:
        super().__init__(lg, config, clock, sleep, rng or random.Random(thing))
        self.publish = publish
        self.thing = thing
        self.read_limit = read_limit
        self.read_budget_bytes = read_budget_bytes
        cfg = config.current
        self.pacer = Pacer(cfg.iotPublishesPerSecond, cfg.iotBytesPerSecond, self._now_s())
        self.classes = IOT_CLASSES if cfg.useKinesis else (*IOT_CLASSES, "raw")
        self.flush_requested = threading.Event()
        self._waiting_since: dict[str, float] = {}
        self.next_due_s = math.inf

    def apply_config(self) -> None:
        cfg = self.config.current
        self.pacer.messages.set_rate(cfg.iotPublishesPerSecond, cfg.iotPublishesPerSecond)
        self.pacer.bytes.set_rate(cfg.iotBytesPerSecond, cfg.iotBytesPerSecond)
        self.backoff.cap_s = cfg.backoffMaxSeconds

    def _due(
        self,
        counts: Counter[str],
        now: float,
        full_read: bool = False,
        age_s: Mapping[str, float] | None = None,
    ) -> set[str]:
        """Classes to send now: alerts always; the rest once full enough or waited enough.
        A class has waited since the sender first saw it or, by its clock-synced wall time,
        since its oldest record was written (the tail of a backlog does not wait again).
        After a read cut off by its budget every class is full enough: waiting cannot make
        the next read hold more of it (large records would otherwise wait every time)."""
        cfg = self.config.current
        flush = full_read or self.flush_requested.is_set()
        due = set()
        self.next_due_s = math.inf  # when the first class left waiting has waited enough
        for cls, n in counts.items():
            since = self._waiting_since.setdefault(cls, now)
            waited_s = max(now - since, (age_s or {}).get(cls, 0.0))
            if (
                cls == "alert"
                or flush
                or n >= cfg.batchMinRecords
                or waited_s >= cfg.batchMaxDelaySeconds
            ):
                due.add(cls)
            else:
                self.next_due_s = min(self.next_due_s, now + cfg.batchMaxDelaySeconds - waited_s)
        for cls in list(self._waiting_since):
            if cls not in counts or cls in due:
                del self._waiting_since[cls]
        self.flush_requested.clear()
        return due

    def _woken(self) -> bool:
        return self.flush_requested.is_set()

    def run_once(self) -> int:
        """Send what is due; returns the records acknowledged (0: nothing due or an error)."""
        cfg = self.config.current
        pending = self._read(self.classes)
        if not pending:
            return 0
        full = len(pending) >= self.read_limit or approx_bytes(pending) >= self.read_budget_bytes
        now_wall_ms = self.clock.wall_ms()
        age_s: dict[str, float] = {}
        for r in pending:  # the first record of a class is its oldest (log order)
            if r.cls not in age_s:
                age_s[r.cls] = (now_wall_ms - r.wall_ms) / 1000 if r.clock_synced else 0.0
        due = self._due(Counter(r.cls for r in pending), self._now_s(), full, age_s)
        keep = [i for i, r in enumerate(pending) if r.cls in due]
        if not keep:
            self._nothing_due_until(self.next_due_s)
            return 0
        messages = plan(
            [pending[i] for i in keep],
            [pending.positions[i] for i in keep],
            site=cfg.siteId,
            thing=self.thing,
            max_bytes=cfg.iotMaxMessageBytes,
        )
        done = 0
        for m in messages:
            if not self._send(m):
                break
            done += m.records
        return done

    def _send(self, m: Message) -> bool:
        if m.oversize is not None:
            self.log.quarantine(repr(m.oversize.to_dict()), "record larger than any message")
            self.log.ack_positions(self.consumer, {m.cls: m.ack_pos})
            self.errors["oversize_quarantined"] += 1
            return True
        wait = self.pacer.wait_s(len(m.payload), self._now_s())
        if wait > 0:
            self.sleep(wait)
        try:
            self.publish(m.topic, m.payload)
        except Exception as exc:  # ServiceError (spool full, offline), disconnects: retry later
            self._failed(exc)
            return False
        self.pacer.take(len(m.payload), self._now_s())
        self._delivered(m.cls, m.ack_pos, m.records, len(m.payload))
        return True


class KinesisSender(_Sender):
    consumer = KINESIS_CONSUMER

    def __init__(
        self,
        lg: Log,
        client_factory: Callable[[], Any],
        config: ConfigHolder[UplinkSettings],
        *,
        clock: Clock,
        sleep: Callable[[float], Any] = time.sleep,
        rng: random.Random | None = None,
        read_limit: int = 5_000,
        read_budget_bytes: int = READ_BUDGET_BYTES // 2,
    ) -> None:
        super().__init__(lg, config, clock, sleep, rng or random.Random())
        self.client_factory = client_factory
        self.client: Any = None
        self.read_limit = read_limit
        self.read_budget_bytes = read_budget_bytes

    def _client(self) -> Any:
        if self.client is None:
            self.client = self.client_factory()
            self._ensure_stream()
        return self.client

    def _ensure_stream(self) -> None:
        from stream_manager import (
            ExportDefinition,
            KinesisConfig,
            MessageStreamDefinition,
            Persistence,
            ResourceNotFoundException,
            StrategyOnFull,
        )

        cfg = self.config.current
        try:
            self.client.describe_message_stream(cfg.streamManagerStreamName)
            return
        except ResourceNotFoundException:
            pass
        self.client.create_message_stream(
            MessageStreamDefinition(
                name=cfg.streamManagerStreamName,
                max_size=cfg.streamManagerMaxBytes,
                # Reject, never overwrite: the log holds the overflow and evicts by policy,
                # counted; Stream Manager would overwrite silently.
                strategy_on_full=StrategyOnFull.RejectNewData,
                persistence=Persistence.File,
                export_definition=ExportDefinition(
                    kinesis=[
                        KinesisConfig(
                            identifier="floorline-raw-kinesis",
                            kinesis_stream_name=cfg.kinesisStreamName,
                            batch_size=cfg.kinesisBatchSize,
                            batch_interval_millis=cfg.kinesisBatchIntervalMillis,
                        )
                    ]
                ),
            )
        )
        log.info(
            "event=stream_created stream=%s kinesis=%s",
            cfg.streamManagerStreamName,
            cfg.kinesisStreamName,
        )

    def run_once(self) -> int:
        cfg = self.config.current
        pending = self._read(("raw",))
        if not pending:
            return 0
        done = 0
        start = 0
        # One device per batch: runs of consecutive records of the same device.
        while start < len(pending):
            end = start
            while end < len(pending) and pending[end].device == pending[start].device:
                end += 1
            try:
                parts = batch.pack(
                    pending[start:end], site=cfg.siteId, max_bytes=cfg.kinesisMaxRecordBytes
                )
            except batch.BatchError as exc:
                self.log.quarantine(repr(exc.evidence), f"raw record not packable: {exc}")
                self.log.ack_positions(self.consumer, {"raw": pending.positions[start]})
                start += 1
                continue
            for data, n in parts:
                try:
                    self._client().append_message(cfg.streamManagerStreamName, data)
                except Exception as exc:  # Stream Manager down, stream full, connection lost
                    self._drop_client()
                    self._failed(exc)
                    return done
                self._delivered("raw", pending.positions[start + n - 1], n, len(data))
                start += n
                done += n
        return done

    def _drop_client(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception as exc:  # already broken
                log.debug("event=sm_close_failed error=%r", exc)
            self.client = None
