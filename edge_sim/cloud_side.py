"""The cloud end of a simulation: the same IoT rules, the same Kinesis path, a local lake.

MQTT from the fleet goes through the rules engine (cloud/rules, on the Mosquitto broker with
the cloud's certificate): the telemetry rules' Kinesis action, and the Stream Manager export of
every device, both feed the lake (cloud/lake), which removes duplicates by identity. The
device-state rule fills a DynamoDB stand-in, alerts go to an SNS stand-in. The run is
reconciled afterwards from what the lake holds (edge_sim/fleet.py).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from cloud.lake.store import Lake
from cloud.rules import definitions as d
from cloud.rules.bridge import BrokerBridge
from cloud.rules.handlers import ActionCall, ActionHandler, MemoryBucket, MemoryTable, MemoryTopic
from components.core.clock import SystemClock
from edge_sim.lake_process import LakeProcess, LakeProcessGone

log = logging.getLogger("edge_sim.cloud")

KINESIS_STREAM = "floorline-raw"


class CloudSide:
    def __init__(
        self, broker: Any, kinesis_root: Path, lake_root: Path, lake_buffer_s: float = 0.0
    ) -> None:
        """`lake_buffer_s` > 0 buffers deliveries and writes them to the lake in one call per
        interval, as Firehose's buffering hints do (one Parquet file and fsync per interval
        instead of per message), from a process of its own (`lake_process.py`; `lake` is
        opened once that process has finished, in `stop`); 0 writes each delivery as it comes,
        here."""
        self.broker = broker
        self.lake_buffer_s = lake_buffer_s
        self._pending: list[bytes] = []
        self._pending_lock = threading.Lock()
        self._lake_batches = 0  # deliveries written (or quarantined) by the lake, here
        self.lake_lost = 0  # deliveries the lake process was no longer there to take
        self.kinesis_root = kinesis_root
        self._lake_root = lake_root
        self._lake_process = LakeProcess(lake_root) if lake_buffer_s > 0 else None
        self.lake: Lake | None = (
            Lake(lake_root, clock=SystemClock()) if self._lake_process is None else None
        )
        self.state = MemoryTable(d.STATE_PARTITION_KEY)
        self.sns = MemoryTopic()
        self.errors = MemoryBucket()
        self._lake_lock = threading.Lock()
        self._stop = threading.Event()
        self._kinesis_after = 0
        self._bridge: BrokerBridge | None = None
        self._thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self.replies: list[dict[str, Any]] = []
        self._reply_client: Any = None

    def _to_lake(self, data: bytes) -> None:
        """One telemetry-stream record into the lake (Firehose's job); the lake drops
        duplicates by identity and quarantines what does not decode."""
        if self.lake_buffer_s > 0:
            with self._pending_lock:  # not the lake's lock: a slow write must not stall MQTT
                self._pending.append(data)
            return
        self._ingest([data])

    def _ingest(self, batches: list[bytes]) -> None:
        if self._lake_process is not None:
            try:
                self._lake_process.send(batches)
            except LakeProcessGone as exc:  # the reckoning shows what is missing; say why
                if not self.lake_lost:
                    log.error("event=lake_process_gone error=%s", exc)
                self.lake_lost += len(batches)
            return
        with self._lake_lock:
            assert self.lake is not None
            self.lake.ingest(batches)
            self._lake_batches += len(batches)

    @property
    def lake_batches(self) -> int:
        """Deliveries written (or quarantined) by the lake so far."""
        if self._lake_process is not None:
            return self._lake_process.written
        return self._lake_batches

    def flush_lake(self) -> None:
        """Write what the buffer holds (a no-op without buffering)."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        if pending:
            self._ingest(pending)

    @property
    def lake_pending(self) -> int:
        """Deliveries buffered for the lake, not written yet."""
        return len(self._pending)

    @property
    def bridge_messages(self) -> int:
        """MQTT messages the rules bridge has taken from the broker."""
        return self._bridge.stats["messages"] if self._bridge is not None else 0

    @property
    def lake_pid(self) -> int | None:
        """The lake process's pid (buffered deliveries), for CPU accounting."""
        return self._lake_process.pid if self._lake_process is not None else None

    def _write_lake(self) -> None:
        while not self._stop.wait(self.lake_buffer_s):
            self.flush_lake()

    def lake_stats(self) -> dict[str, int]:
        if self._lake_process is not None and self.lake is None:
            return self._lake_process.stats()
        with self._lake_lock:
            return self.lake.stats() if self.lake is not None else {}

    def _kinesis_action(self, call: ActionCall) -> None:
        self._to_lake(call.payload)

    def start(self) -> None:
        files = self.broker.cloud_files
        handlers: dict[str, ActionHandler] = {
            d.KINESIS: self._kinesis_action,
            d.DYNAMODB_V2: self.state,
            d.SNS: self.sns,
            d.S3: self.errors,
        }
        self._bridge = BrokerBridge(
            d.RULES,
            handlers,
            host="127.0.0.1",
            port=self.broker.port,
            clock=SystemClock(),
            tls=(str(files.ca), str(files.cert), str(files.key)),
        )
        self._bridge.start()
        # Command replies are not telemetry: collected for the technician and the tests.
        self._reply_client = self.broker.cloud_client("floorline-replies")
        self._reply_client.on_message = lambda _c, _u, m: self.replies.append(json.loads(m.payload))
        self._reply_client.subscribe("floorline/+/+/reply", qos=1)
        self._thread = threading.Thread(
            target=self._poll_kinesis, name="kinesis-consumer", daemon=True
        )
        self._thread.start()
        if self._lake_process is not None:
            self._lake_process.start()
            self._writer = threading.Thread(
                target=self._write_lake, name="lake-buffer", daemon=True
            )
            self._writer.start()

    def _poll_kinesis(self) -> None:
        while not self._stop.wait(0.5):
            self.drain_kinesis()

    def drain_kinesis(self) -> None:
        from edge_sim.stream_manager.kinesis import read_records

        for seq, _key, data in read_records(self.kinesis_root, KINESIS_STREAM, self._kinesis_after):
            self._kinesis_after = seq
            self._to_lake(data)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # Its poll must be over before the last one below: a record it handed over after
            # the final flush would never reach the lake.
            self._thread.join(timeout=60)
            if self._thread.is_alive():
                log.error("event=kinesis_consumer_stuck")
        self.drain_kinesis()
        if self._bridge is not None:
            self._bridge.stop()
        if self._writer is not None:
            self._writer.join(timeout=60)
        self.flush_lake()
        if self._lake_process is not None:
            self._lake_process.close()
            self.lake = Lake(self._lake_root, clock=SystemClock())
        if self._reply_client is not None:
            self._reply_client.loop_stop()
            self._reply_client.disconnect()

    def close(self) -> None:
        """Close the lake (after the run has been reckoned from it)."""
        if self.lake is not None:
            self.lake.close()
