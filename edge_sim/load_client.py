"""The device end of load mode: bare MQTT 3.1.1 clients over asyncio TLS, one per thing.

Each client connects with its own certificate (the broker takes the CN as its identity),
publishes real uplink batches (components.core.batch) of plausible sensor readings to its own
raw topic at a fixed rate, QoS 1, and counts PUBACKs. No reconnect: a lost connection is
counted and what it had in flight stays unacknowledged (load mode measures; the fleet runner
is where delivery under faults is proven).

A worker process runs a slice of the devices: it connects them all, waits for the common start
time, encodes every batch of the run ahead (so encoding does not compete with the cloud side
for CPU while it is measured), then publishes on schedule.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.mqtt import wire
from components.core import batch, topics
from components.core.envelope import Record

log = logging.getLogger("edge_sim.load")

KEEPALIVE_S = 60
CONNECT_TIMEOUT_S = 30.0

# What one batch carries: one reading of each chip of a device (the streams and payload keys
# the sensors component writes), published on the device's raw topic.
STREAMS: tuple[tuple[str, dict[str, tuple[float, float, int]]], ...] = (
    # stream, {field: (start, random-walk step, decimal places)}
    ("env/bme280@0x76", {"temperature_c": (22.0, 0.05, 2), "pressure_pa": (101_325.0, 2.0, 1),
                         "humidity_pct": (45.0, 0.2, 2)}),
    ("env/sht3x@0x44", {"temperature_c": (22.0, 0.05, 2), "humidity_pct": (45.0, 0.2, 2)}),
    ("power/ina219@0x40", {"bus_voltage_v": (12.0, 0.004, 3), "current_a": (0.25, 0.01, 3),
                           "power_w": (3.0, 0.1, 2)}),
    ("loop/ads1115@0x48", {"voltage_v": (1.2, 0.01, 4), "current_ma": (12.0, 0.1, 2),
                           "value": (4.5, 0.05, 2)}),
    ("vib/adxl345@0x53", {"rms_x_g": (0.012, 0.001, 4), "rms_y_g": (0.011, 0.001, 4),
                          "rms_z_g": (1.0, 0.002, 4), "peak_g": (1.1, 0.01, 3),
                          "dominant_hz": (24.0, 0.5, 1)}),
)  # fmt: skip
STREAM_NAMES = tuple(s for s, _ in STREAMS)


class LoadConnectError(ConnectionError):
    """A client could not connect: TLS refused (no or bad certificate) or CONNACK not 0."""


class ReadingSynth:
    """Plausible readings for one device: bounded random walks, at each chip's resolution.
    Batch number k holds seq k of every stream, so seqs are gapless per (device, stream)."""

    def __init__(self, thing: str, seed: int) -> None:
        self.thing = thing
        self._rng = random.Random(seed)
        self._state = [{k: v[0] for k, v in fields.items()} for _, fields in STREAMS]

    def records(self, number: int, wall_ms: int) -> list[Record]:
        out = []
        for (stream, fields), state in zip(STREAMS, self._state, strict=True):
            payload: dict[str, Any] = {}
            for key, (start, step, places) in fields.items():
                value = state[key] + self._rng.uniform(-step, step)
                value += (start - value) * 0.01  # drift back towards the set point
                state[key] = value
                payload[key] = round(value, places)
            if stream.startswith("vib/"):
                payload |= {"rate_hz": 800, "samples": 400}
            out.append(Record(self.thing, stream, number, "raw", number * 1_000_000_000,
                              wall_ms, True, payload))  # fmt: skip
        return out

    def batch(self, number: int, wall_ms: int, site: str) -> bytes:
        return batch.encode(self.records(number, wall_ms), site=site)


@dataclass
class DeviceReport:
    thing: str
    sent: int = 0  # batches 1..sent were written to the socket
    acked: int = 0
    unacked: list[int] = field(default_factory=list)  # batch numbers sent without a PUBACK
    lost_connection: bool = False


class DeviceClient:
    """One MQTT connection: CONNECT, then PUBLISH QoS 1 and PUBACK bookkeeping."""

    def __init__(self, thing: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:  # fmt: skip
        self.thing = thing
        self.reader = reader
        self.writer = writer
        self.report = DeviceReport(thing)
        self.inflight: dict[int, tuple[int, float]] = {}  # packet id -> (batch, sent at)
        self.ack_latency_s: list[float] = []
        self._next_id = 0
        self._parser = wire.PacketReader(max_packet_bytes=1024)
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, thing: str, host: str, port: int, context: ssl.SSLContext,
                      timeout_s: float = CONNECT_TIMEOUT_S) -> DeviceClient:  # fmt: skip
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname="localhost"
                )
                client = cls(thing, reader, writer)
                writer.write(wire.connect_packet(thing, KEEPALIVE_S))
                code = await client._connack()
        except (OSError, ssl.SSLError, TimeoutError, wire.MqttWireError) as exc:
            raise LoadConnectError(f"{thing}: {type(exc).__name__}: {exc}") from None
        if code != 0:
            writer.close()
            reason = wire.CONNACK_REASONS.get(code, "unknown")
            raise LoadConnectError(f"{thing}: CONNACK {code} ({reason})")
        return client

    async def _connack(self) -> int:
        while True:
            data = await self.reader.read(1024)
            if not data:
                raise ConnectionResetError("closed before CONNACK")
            for packet in self._parser.feed(data):
                return wire.connack_code(packet)

    def publish(self, number: int, topic: str, payload: bytes) -> None:
        self._next_id = self._next_id % 0xFFFF + 1
        self.inflight[self._next_id] = (number, time.monotonic())
        self.writer.write(wire.publish_packet(topic, payload, self._next_id, qos=1))
        self.report.sent = number

    def ping(self) -> None:
        self.writer.write(wire.PINGREQ_PACKET)

    async def read_acks(self) -> None:
        """Until the connection closes: PUBACKs settle in-flight batches."""
        try:
            while data := await self.reader.read(4096):
                for packet in self._parser.feed(data):
                    if packet.kind == wire.PUBACK:
                        entry = self.inflight.pop(wire.puback_id(packet), None)
                        if entry is not None:
                            self.report.acked += 1
                            self.ack_latency_s.append(time.monotonic() - entry[1])
        except (OSError, ssl.SSLError, wire.MqttWireError) as exc:
            log.info("event=load_connection_error thing=%s error=%r", self.thing, str(exc))
        finally:
            self.closed.set()

    async def close(self) -> None:
        if not self.closed.is_set():
            self.writer.write(wire.DISCONNECT_PACKET)
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (OSError, ssl.SSLError) as exc:
            log.debug("event=load_close_error thing=%s error=%r", self.thing, str(exc))
        self.report.unacked = sorted(n for n, _ in self.inflight.values())


def device_context(ca: str, cert: str | None, key: str | None) -> ssl.SSLContext:
    """TLS client context trusting the local CA, presenting the device's certificate."""
    context = ssl.create_default_context(cafile=ca)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


@dataclass(frozen=True)
class WorkerSpec:
    host: str
    port: int
    ca: str
    devices: Sequence[tuple[str, str, str]]  # (thing, cert file, key file)
    site: str
    rate_hz: float
    duration_s: float
    seed: int
    index: int  # this worker's slot in the shared counters
    first_device: int  # position of its first device in the fleet (spreads the phases)
    fleet_size: int
    connect_concurrency: int = 64
    ack_timeout_s: float = 15.0


# Shared counters, one row of COUNTERS per worker.
COUNTERS = ("connected", "refused", "sent", "acked", "lost", "ready", "done")


def batches_per_device(duration_s: float, rate_hz: float) -> int:
    return max(1, int(duration_s * rate_hz))


def send_offset_s(position: int, fleet_size: int, number: int, rate_hz: float) -> float:
    """When device `position` sends batch `number` (from 1), after the start: devices are
    spread evenly over one period so the broker sees a steady stream, not a pulse."""
    period = 1.0 / rate_hz
    return period * position / fleet_size + period * (number - 1)


async def run_worker(spec: WorkerSpec, counters: Any, start_ms: Any) -> dict[str, Any]:
    base = spec.index * len(COUNTERS)
    slot = {name: base + i for i, name in enumerate(COUNTERS)}
    gate = asyncio.Semaphore(spec.connect_concurrency)
    clients: list[tuple[int, DeviceClient]] = []
    refused: list[str] = []

    async def connect(position: int, thing: str, cert: str, key: str) -> None:
        async with gate:
            try:
                client = await DeviceClient.connect(
                    thing, spec.host, spec.port, device_context(spec.ca, cert, key)
                )
            except LoadConnectError as exc:
                refused.append(str(exc))
                counters[slot["refused"]] += 1
                return
        clients.append((position, client))
        counters[slot["connected"]] += 1

    await asyncio.gather(*(connect(spec.first_device + i, *d) for i, d in enumerate(spec.devices)))
    readers = [asyncio.create_task(c.read_acks()) for _, c in clients]
    counters[slot["ready"]] = 1
    while start_ms.value == 0:
        await asyncio.sleep(0.02)
    t0_ms = start_ms.value
    n = batches_per_device(spec.duration_s, spec.rate_hz)
    encode_started = time.monotonic()
    plans = []
    for position, client in clients:
        synth = ReadingSynth(client.thing, spec.seed * 1_000_003 + position)
        topic = topics.device_topic(spec.site, client.thing, topics.RAW)
        offsets = [send_offset_s(position, spec.fleet_size, k, spec.rate_hz)
                   for k in range(1, n + 1)]  # fmt: skip
        payloads = [synth.batch(k, t0_ms + round(o * 1000), spec.site)
                    for k, o in zip(range(1, n + 1), offsets, strict=True)]  # fmt: skip
        plans.append((client, topic, offsets, payloads))
    encode_s = time.monotonic() - encode_started
    loop = asyncio.get_running_loop()
    # The common start on this process' monotonic clock.
    t0 = loop.time() + (t0_ms / 1000 - time.time())
    lateness_s: list[float] = []

    async def send(client: DeviceClient, topic: str, offsets: list[float],
                   payloads: list[bytes]) -> None:  # fmt: skip
        for number, (offset, payload) in enumerate(zip(offsets, payloads, strict=True), 1):
            while (wait := t0 + offset - loop.time()) > 0:
                await asyncio.sleep(min(wait, KEEPALIVE_S / 2))
                if t0 + offset - loop.time() > 0:
                    client.ping()  # a long gap: keep the connection alive
            if client.closed.is_set():
                client.report.lost_connection = True
                counters[slot["lost"]] += 1
                return
            lateness_s.append(loop.time() - (t0 + offset))
            client.publish(number, topic, payload)
            counters[slot["sent"]] += 1

    acked_before = 0

    async def tally() -> None:
        nonlocal acked_before
        while True:
            acked = sum(c.report.acked for _, c in clients)
            counters[slot["acked"]] += acked - acked_before
            acked_before = acked
            await asyncio.sleep(0.25)

    tally_task = asyncio.create_task(tally())
    await asyncio.gather(*(send(*p) for p in plans))
    deadline = loop.time() + spec.ack_timeout_s
    while loop.time() < deadline and any(c.inflight and not c.closed.is_set() for _, c in clients):
        await asyncio.sleep(0.05)
    tally_task.cancel()
    for _, c in clients:
        await c.close()
    for r in readers:
        r.cancel()
    acked = sum(c.report.acked for _, c in clients)
    counters[slot["acked"]] += acked - acked_before
    latencies = sorted(x for _, c in clients for x in c.ack_latency_s)
    counters[slot["done"]] = 1
    return {
        "devices": {
            c.thing: (c.report.sent, c.report.unacked, c.report.lost_connection) for _, c in clients
        },  # fmt: skip
        "refused": refused,
        "encode_s": encode_s,
        "batches_encoded": n * len(clients),
        "ack_latency_s": _percentiles(latencies),
        "lateness_s": _percentiles(sorted(lateness_s)),
    }


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": values[len(values) // 2],
        "p99": values[min(len(values) - 1, int(len(values) * 0.99))],
        "max": values[-1],
    }


def worker_main(spec: WorkerSpec, counters: Any, start_ms: Any, results: Any) -> None:
    """Entry point of a worker process: its result (or its failure) goes to `results`."""
    try:
        results.put((spec.index, asyncio.run(run_worker(spec, counters, start_ms))))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put((spec.index, {"error": f"{type(exc).__name__}: {exc}"}))
        raise
