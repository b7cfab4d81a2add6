"""The cloud end of a simulation: what arrives from the fleet over MQTT and Kinesis.

Every uplink message is decoded with the one batch definition (components/core/batch.py) and
handed to the lake when one is attached; `Receipts` keeps the identities seen, so a run can be
reconciled from sequence numbers alone (delivered, duplicates, per class).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.core import batch, topics
from components.core.envelope import EnvelopeError, Record, from_dict

log = logging.getLogger("edge_sim.cloud")

KINESIS_STREAM = "floorline-raw"


class Receipts:
    """Identities received (thread-safe), with duplicates and rejects counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: dict[tuple[str, str, int], str] = {}
        self.duplicates = 0
        self.rejected: Counter[str] = Counter()
        self.by_class: Counter[str] = Counter()
        self.alerts: list[Record] = []

    def add(self, records: list[Record]) -> None:
        with self._lock:
            for r in records:
                if r.identity in self.seen:
                    self.duplicates += 1
                    continue
                self.seen[r.identity] = r.cls
                self.by_class[r.cls] += 1
                if r.cls == "alert":
                    self.alerts.append(r)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1


def decode_message(topic: str, payload: bytes) -> list[Record]:
    """Records in one uplink MQTT message (alert JSON or batch); raises on bad input."""
    _site, _thing, kind = topics.parse(topic)
    if kind == topics.ALERT:
        return [from_dict(json.loads(payload))]
    if kind in (topics.REPLY, topics.COMMAND):
        return []
    return batch.decode(payload)[1]


class CloudSide:
    def __init__(
        self,
        broker: Any,
        kinesis_root: Path,
        on_records: Callable[[str, list[Record]], None] | None = None,
    ) -> None:
        self.broker = broker
        self.kinesis_root = kinesis_root
        self.receipts = Receipts()
        self.on_records = on_records
        self.replies: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._kinesis_after = 0
        self._client: Any = None
        self._thread: threading.Thread | None = None

    def _deliver(self, source: str, records: list[Record]) -> None:
        self.receipts.add(records)
        if self.on_records is not None:
            self.on_records(source, records)

    def _on_mqtt(self, topic: str, payload: bytes) -> None:
        try:
            if topic.endswith(f"/{topics.REPLY}"):
                self.replies.append(json.loads(payload))
                return
            self._deliver("mqtt", decode_message(topic, payload))
        except (batch.BatchError, EnvelopeError, ValueError) as exc:
            self.receipts.reject(type(exc).__name__)
            log.warning("event=cloud_reject topic=%s error=%r", topic, str(exc)[:200])

    def start(self) -> None:
        self._client = self.broker.cloud_client("floorline-cloud")
        self._client.on_message = lambda _c, _u, msg: self._on_mqtt(msg.topic, msg.payload)
        self._client.subscribe(f"{topics.ROOT}/+/+/+", qos=1)
        self._thread = threading.Thread(
            target=self._poll_kinesis, name="kinesis-consumer", daemon=True
        )
        self._thread.start()

    def _poll_kinesis(self) -> None:
        while not self._stop.wait(0.5):
            self.drain_kinesis()

    def drain_kinesis(self) -> None:
        from edge_sim.stream_manager.kinesis import read_records

        for seq, _key, data in read_records(self.kinesis_root, KINESIS_STREAM, self._kinesis_after):
            self._kinesis_after = seq
            try:
                self._deliver("kinesis", batch.decode(data)[1])
            except (batch.BatchError, EnvelopeError) as exc:
                self.receipts.reject(type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.drain_kinesis()
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
