"""The uplink against IoT Core's billing and limits and against the Kinesis path, in one run.

    python -m bench.uplink [--quick] [--profile]

(a) Billed IoT Core 5 KB units per 1,000 readings and bytes on the wire per reading: floorline's
    batches (components/uplink/plan.py, the code the uplink publishes with) of BME280 readings
    taken through the real driver on edge_sim's emulated chip at 1 Hz, next to the seeds'
    one-JSON-message-per-sample style. A reading is one scalar value (BME280: temperature,
    pressure, humidity = 3 per sample; seeds: temp, humidity, battery = 3 per message).
(b) Backlog drain after a 24 h outage of a device with 10 sensors at 1 Hz plus one ADXL345,
    built in a real log; the real uplink process against edge_sim's nucleus (IoT Core limits
    enforced) and Stream Manager: Kinesis drain time of 1,000,000 raw readings, and (second run,
    raw over IoT Core as on a site without Kinesis) publish and byte rate against the
    per-connection ceiling. Limit violations counted.
(c) RSS and CPU of the uplink process during both drains (/proc).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import uplink_backlog as backlog
from bench.report import emit
from bench.uplink_run import Run, drain
from components.core import batch, topics
from components.core.clock import ManualClock
from components.core.envelope import Record
from components.core.limits import (
    MQTT_BYTES_PER_S,
    MQTT_PUBLISHES_PER_S,
    billed_units,
)
from components.uplink.config import SPEC
from components.uplink.plan import plan

THING = "dev-bench"
SITE = "plant-1"
DEFAULTS = SPEC.defaults()
# The BME280's resolution as it reports: 0.01 degC, ~0.2 Pa (0.1 Pa kept), 0.008 %RH (0.01 kept).
BME280_PLACES = {"temperature_c": 2, "pressure_pa": 1, "humidity_pct": 2}


# ---------------------------------------------------------------- (a) billing
def mqtt_publish_bytes(topic: str, payload: bytes) -> int:
    """Bytes of one QoS 1 PUBLISH (MQTT 3.1.1) plus its 4-byte PUBACK."""
    remaining = 2 + len(topic.encode()) + 2 + len(payload)
    varint = 1 if remaining < 128 else 2 if remaining < 16_384 else 3 if remaining < 2**21 else 4
    return 1 + varint + remaining + 4


def cost(messages: Sequence[tuple[str, bytes]], readings: int) -> dict[str, float]:
    """One accounting for both styles: billed units and wire bytes per reading."""
    units = sum(billed_units(len(p)) for _t, p in messages)
    wire = sum(mqtt_publish_bytes(t, p) for t, p in messages)
    return {
        "messages": len(messages),
        "units": units,
        "units_per_1000": 1000 * units / readings,
        "wire_per_reading": wire / readings,
        "payload_per_reading": sum(len(p) for _t, p in messages) / readings,
    }


def bme280_samples(seconds: int, seed: int = 3) -> list[tuple[int, dict[str, float]]]:
    """(wall_ms, reading) at 1 Hz from the real driver on the emulated chip (world signals)."""
    from components.lib.drivers.bme280 import Bme280
    from edge_sim.hardware.bus import SimBus
    from edge_sim.hardware.chips import Bme280Model
    from edge_sim.world.scenario import chip_world

    clock = ManualClock()
    world = chip_world("bme280", "env1", seed)
    drv = Bme280(SimBus([Bme280Model(0x76, world, clock)]), 0x76, sleep=clock.advance)
    drv.init()
    out = []
    t_next = clock.monotonic_ns()
    for _ in range(seconds):
        t_next += 1_000_000_000
        clock.advance(max(0, t_next - clock.monotonic_ns()) / 1e9)
        out.append((clock.wall_ms(), drv.read()))
    return out


def floorline_messages(
    samples: list[tuple[int, dict[str, float]]], window_records: int | None
) -> list[tuple[str, bytes]]:
    stream = "env/bme280@i2c1-0x76"
    recs = [
        Record(THING, stream, i + 1, "raw", i * 10**9, w, True, p)
        for i, (w, p) in enumerate(samples)
    ]
    step = window_records or len(recs)
    msgs: list[tuple[str, bytes]] = []
    for i in range(0, len(recs), step):
        part = recs[i : i + step]
        for m in plan(
            part,
            list(range(i + 1, i + 1 + len(part))),
            site=SITE,
            thing=THING,
            max_bytes=DEFAULTS["iotMaxMessageBytes"],
        ):
            assert m.oversize is None
            msgs.append((m.topic, m.payload))
    return msgs


def seed_messages(samples: list[tuple[int, dict[str, float]]]) -> list[tuple[str, bytes]]:
    """The seeds' style: one JSON message per sample, on the same topic."""
    topic = topics.device_topic(SITE, THING, topics.RAW)
    return [
        (
            topic,
            json.dumps(
                {
                    "deviceId": THING,
                    "timestamp": w,
                    "temp": p["temperature_c"],
                    "humidity": p["humidity_pct"],
                    "battery": round(3.95 - k * 2e-6, 3),
                }
            ).encode(),
        )
        for k, (w, p) in enumerate(samples)
    ]


def rounded(samples: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
    return [(w, {k: round(v, BME280_PLACES[k]) for k, v in p.items()}) for w, p in samples]


def part_a(seconds: int) -> list[dict[str, Any]]:
    raw = bme280_samples(seconds)
    res = rounded(raw)
    scalars = 3 * len(raw)
    seeds = cost(seed_messages(res), scalars)
    live_records = int(DEFAULTS["batchMaxDelaySeconds"])  # 1 Hz: what waits batchMaxDelaySeconds
    rows: list[dict[str, Any]] = []
    cases = [
        ("backlog batches, driver floats", raw, None),
        ("backlog batches, sensor resolution", res, None),
        (f"live {live_records} s batches, sensor resolution", res, live_records),
    ]
    for label, samples, window in cases:
        f = cost(floorline_messages(samples, window), scalars)
        rows += [
            {
                "figure": f"(a) billed units / 1000 readings — {label}",
                "value": f["units_per_1000"],
                "unit": "units",
                "goal": "<= 2",
                "peer": seeds["units_per_1000"],
                "ratio": seeds["units"] / f["units"],
                "note": f"{f['messages']} msgs for {scalars} readings; peer = seeds",
            },
            {
                "figure": f"(a) wire bytes / reading — {label}",
                "value": f["wire_per_reading"],
                "unit": "B",
                "goal": "<= 8",
                "peer": seeds["wire_per_reading"],
                "ratio": seeds["wire_per_reading"] / f["wire_per_reading"],
                "note": (
                    f"payload {f['payload_per_reading']:.2f} B/reading; MQTT QoS1 PUBLISH+PUBACK"
                ),
            },
        ]
    for delay_s in (DEFAULTS["batchMaxDelaySeconds"], 15.0):  # the default, and a slower cadence
        rows += device_live_rows(min(seconds, 600), delay_s)
    rows.append(
        {
            "figure": "(a) billed messages per 1000 samples, seeds style",
            "value": 1000.0,
            "unit": "units",
            "note": f"{len(raw)} BME280 samples (3 readings each) at 1 Hz",
        }
    )
    return rows


def device_live_rows(seconds: int, delay_s: float) -> list[dict[str, Any]]:
    """Live cadence for the whole device of (b), raw over IoT Core: every raw record of the
    device pending at a `batchMaxDelaySeconds` tick goes out in one batch (sensor resolution
    values). A message is billed at least one 5 KB unit, so the cadence sets the cost."""
    window_ms = int(delay_s * 1000)
    recs: list[Record] = []
    readings = 0
    for sensor in (*backlog.SENSORS, backlog.ADXL):
        for i, (w, p) in enumerate(backlog.rows(sensor, 7, 0, seconds, False)):
            recs.append(Record(THING, sensor.stream, i + 1, "raw", 0, w, True, p))
            readings += backlog.scalars_per_record(sensor)
    recs.sort(key=lambda r: r.wall_ms)
    msgs: list[tuple[str, bytes]] = []
    start = 0
    while start < len(recs):
        end = start
        while end < len(recs) and recs[end].wall_ms < recs[start].wall_ms + window_ms:
            end += 1
        part = recs[start:end]
        msgs += [
            (m.topic, m.payload)
            for m in plan(
                part,
                list(range(start + 1, end + 1)),
                site=SITE,
                thing=THING,
                max_bytes=DEFAULTS["iotMaxMessageBytes"],
            )
        ]
        start = end
    f = cost(msgs, readings)
    return [
        {
            "figure": f"(a) billed units / 1000 readings — live {delay_s:g} s batches, "
            "whole device of (b)",
            "value": f["units_per_1000"],
            "unit": "units",
            "goal": "<= 2",
            "note": f"{f['messages']} msgs for {readings:,} readings; "
            f"{f['wire_per_reading']:.2f} wire B/reading",
        }
    ]


# ---------------------------------------------------------------- (b), (c) drain
def _first_time(run: Run, consumer: str, cls: str, pos: int) -> float | None:
    for s in run.samples:
        if s.acked.get(consumer, {}).get(cls, 0) >= pos:
            return s.t_s
    return None


def _proc_rows(run: Run, label: str, t_from: float | None, t_to: float | None) -> list[dict]:
    rss = max((s.rss_kb for s in run.samples), default=0)
    hwm = max(run.hwm_kb, rss)
    rows = [
        {
            "figure": f"(c) uplink peak RSS — {label}",
            "value": hwm / 1024,
            "unit": "MiB",
            "goal": "<= 40",
            "note": "VmHWM / sampled VmRSS from /proc",
        }
    ]

    inside = [
        s
        for s in run.samples
        if t_from is not None and t_to is not None and t_from <= s.t_s <= t_to
    ]
    if len(inside) >= 2:
        cpu = (inside[-1].cpu_s - inside[0].cpu_s) / (inside[-1].t_s - inside[0].t_s)
        rows.append(
            {
                "figure": f"(c) uplink CPU during drain — {label}",
                "value": 100 * cpu,
                "unit": "% of one core",
                "note": "utime+stime from /proc/<pid>/stat",
            }
        )
    return rows


def _decoded_identities(payloads: list[bytes]) -> Counter:
    """How often each record identity arrived: batches decoded, alerts as their JSON."""
    seen: Counter = Counter()
    for data in payloads:
        if batch.is_batch(data):
            for r in batch.decode(data)[1]:
                seen[r.identity] += 1
        elif data[:1] == b"{":
            d = json.loads(data)
            if {"device", "stream", "seq"} <= d.keys():
                seen[(d["device"], d["stream"], d["seq"])] += 1
    return seen


def kinesis_rows(
    run: Run, bl: backlog.Backlog, target_scalars: int, label: str
) -> list[dict[str, Any]]:
    marks = bl.raw_scalar_marks or []
    rows: list[dict[str, Any]] = []
    first = next((s.t_s for s in run.samples if s.acked.get("uplink-kinesis", {}).get("raw")), None)
    # the position (1-based, log order) at which `target_scalars` readings are handed over
    pos_1m = next((i + 1 for i, m in enumerate(marks) if m >= target_scalars), None)
    t_1m = _first_time(run, "uplink-kinesis", "raw", pos_1m) if pos_1m else None
    t_all = _first_time(run, "uplink-kinesis", "raw", bl.raw_records)
    if t_1m is not None and first is not None:
        rows.append(
            {
                "figure": f"(b) Kinesis path: {target_scalars:,} raw readings handed to "
                "Stream Manager",
                "value": t_1m,
                "unit": "s",
                "goal": "<= 60",
                "note": f"from process start ({pos_1m:,} records); first ack at {first:.1f} s",
            }
        )
    if t_all is not None and first is not None:
        rate = f"; {bl.raw_scalars / (t_all - first):,.0f} readings/s" if t_all - first > 1 else ""
        rows.append(
            {
                "figure": f"(b) Kinesis path: whole {label} raw backlog",
                "value": t_all,
                "unit": "s",
                "note": f"{bl.raw_records:,} records, {bl.raw_scalars:,} "
                f"readings, from process start{rate}",
            }
        )
    assert run.kinesis is not None
    seen = _decoded_identities([d for _k, d in run.kinesis.records("floorline-raw")])
    missing = bl.raw_records - len(seen)
    rows.append(
        {
            "figure": "(b) Kinesis: raw records in the Kinesis sink, missing / duplicated",
            "value": f"{missing} / {sum(n - 1 for n in seen.values())}",
            "unit": "records",
            "goal": "0 missing",
            "note": f"{len(run.kinesis.records('floorline-raw'))} Kinesis records; "
            "after Stream Manager's export",
        }
    )
    return rows


def _slope(t_s: list[float], amounts: list[int]) -> float:
    """Least-squares slope of the running total of `amounts` over time (per second)."""
    total, ys = 0, []
    for a in amounts:
        total += a
        ys.append(total)
    n = len(t_s)
    mt, my = sum(t_s) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in t_s)
    return sum((t - mt) * (y - my) for t, y in zip(t_s, ys, strict=True)) / var if var else 0.0


def iot_rows(run: Run, label: str, kind: str) -> list[dict[str, Any]]:
    """Publish and byte rate of `kind` messages at IoT Core, as IoT Core counts them."""
    assert run.cloud is not None
    msgs = [m for m in run.cloud.received if m.topic.endswith("/" + kind)]
    rows: list[dict[str, Any]] = []
    viol = run.cloud.limit_violations()
    rows.append(
        {
            "figure": f"(b) IoT Core limit violations — {label}",
            "value": viol,
            "unit": "count",
            "goal": "0",
            "note": f"throttled {run.cloud.stats['throttled']} (edge_sim RateMonitor)",
        }
    )
    if len(msgs) < 3:
        rows.append(
            {
                "figure": f"(b) IoT Core {kind} messages — {label}",
                "value": len(msgs),
                "unit": "msgs",
                "note": "too few to measure a rate",
            }
        )
        return rows
    t0, t1 = msgs[0].wall_ms, msgs[-1].wall_ms
    # IoT Core allows one second of burst (a full bucket); the sustained rate is the slope of
    # the cumulative count after it, which a leftover burst only offsets.
    start = t0 + 1000 if t1 - t0 > 3000 else t0
    inside = [m for m in msgs if start < m.wall_ms <= t1]
    pub = _slope([m.wall_ms / 1000 for m in inside], [1] * len(inside))
    byt = _slope(
        [m.wall_ms / 1000 for m in inside], [len(m.payload) + len(m.topic.encode()) for m in inside]
    )
    pub_frac, byte_frac = pub / MQTT_PUBLISHES_PER_S, byt / MQTT_BYTES_PER_S
    binding = "bytes/s" if byte_frac >= pub_frac else "publishes/s"
    rows += [
        {
            "figure": f"(b) IoT Core publish rate — {label}",
            "value": pub,
            "unit": "msg/s",
            "goal": f"limit {MQTT_PUBLISHES_PER_S}",
            "ratio": pub_frac,
            "note": f"{len(msgs)} msgs over {(t1 - t0) / 1000:.1f} s "
            + (
                "(slope after the first second, the allowed burst)"
                if start > t0
                else "(too short to exclude the 1 s burst)"
            ),
        },
        {
            "figure": f"(b) IoT Core byte rate — {label}",
            "value": byt / 1024,
            "unit": "KiB/s",
            "goal": f"limit {MQTT_BYTES_PER_S // 1024}",
            "ratio": byte_frac,
            "note": f"payload+topic, as IoT Core counts; mean msg "
            f"{sum(len(m.payload) for m in msgs) / len(msgs) / 1024:.1f} KiB",
        },
        {
            "figure": f"(b) IoT Core share of the binding limit ({binding}) — {label}",
            "value": 100 * max(pub_frac, byte_frac),
            "unit": "%",
            "goal": ">= 90",
            "note": "uplink paces at 95 % of both (iotPublishesPerSecond, iotBytesPerSecond)",
        },
    ]
    return rows


def profile_rows(text: str | None, label: str) -> list[dict[str, Any]]:
    """Top floorline functions by inclusive samples, and the top lines by own samples
    (py-spy raw format: collapsed stacks, one count per line)."""
    if not text:
        return []
    total = 0
    incl: Counter = Counter()
    own: Counter = Counter()
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        own[_frame(frames[-1])] += int(n)
        for f in {_frame(f, line_no=False) for f in frames if "components/" in f}:
            incl[f] += int(n)
    rows = [
        {
            "figure": f"(b) profile {label}, inclusive: {name}",
            "value": 100 * n / total,
            "unit": "% samples",
            "note": "py-spy 20 s, all threads",
        }
        for name, n in incl.most_common(6)
    ]
    rows += [
        {
            "figure": f"(b) profile {label}, own time: {name}",
            "value": 100 * n / total,
            "unit": "% samples",
            "note": "py-spy 20 s, all threads",
        }
        for name, n in own.most_common(6)
    ]
    return rows


def _frame(frame: str, line_no: bool = True) -> str:
    """'func (path/to/components/x.py:12)' -> 'components/x.py:12 func'."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    if "components/" in where:
        where = where[where.index("components/") :]
    else:
        where = where.rsplit("/", 1)[-1]
    if not line_no:
        where = where.rsplit(":", 1)[0]
    return f"{where} {func}"


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    ap.add_argument("--outage-hours", type=float, default=None)
    ap.add_argument(
        "--iot-outage-hours",
        type=float,
        default=None,
        help="outage for the raw-over-IoT-Core run (bounded: it drains at 486 KiB/s)",
    )
    ap.add_argument(
        "--values",
        choices=("driver", "sensor"),
        default="driver",
        help="(b) backlog values: every float digit as the drivers report today, "
        "or rounded to the chip's resolution",
    )
    ap.add_argument("--alerts", type=int, default=None, help="alerts in the IoT run's backlog")
    ap.add_argument("--profile", action="store_true", help="py-spy the uplink during the drains")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args(argv)
    hours = a.outage_hours or (0.25 if a.quick else 24.0)
    iot_hours = a.iot_outage_hours or (0.25 if a.quick else 6.0)
    target = 50_000 if a.quick else 1_000_000
    alerts = a.alerts if a.alerts is not None else (200 if a.quick else 2000)
    full = a.values == "driver"
    a_seconds = 300 if a.quick else 3600
    timeout_s = 120 if a.quick else 900

    rows = part_a(a_seconds)
    work = Path(tempfile.mkdtemp(prefix="uplink-bench-"))
    try:
        backlog.build(work / "idle" / "log.db", THING, 1)  # 1 s of data: both clients made
        idle = drain(work / "idle" / "log.db", THING, use_kinesis=True, timeout_s=30, min_run_s=4)
        rows.append(
            {
                "figure": "(c) uplink RSS idle (1 s of data sent, then nothing)",
                "value": idle.samples[-1].rss_kb / 1024 if idle.samples else None,
                "unit": "MiB",
                "goal": "<= 40",
                "note": "at 4 s: IPC and Stream Manager clients connected, idle",
            }
        )
        t = time.perf_counter()
        bl = backlog.build(work / "k" / "log.db", THING, int(hours * 3600), full_precision=full)
        rows.append(
            {
                "figure": "(b) backlog built",
                "value": time.perf_counter() - t,
                "unit": "s",
                "note": f"{hours:g} h: {bl.raw_records:,} raw records ({bl.raw_scalars:,} "
                f"readings, {a.values} values), {bl.iot_records:,} aggregate+health; "
                "append_records per 10 min",
            }
        )
        run_k = drain(
            work / "k" / "log.db",
            THING,
            use_kinesis=True,
            timeout_s=timeout_s,
            profile_s=20 if a.profile else 0,
        )
        if run_k.done_s is None:
            rows.append(
                {
                    "figure": "(b) Kinesis run did not finish",
                    "value": timeout_s,
                    "unit": "s",
                    "note": run_k.exit_output[-300:],
                }
            )
        rows += kinesis_rows(run_k, bl, target, f"{hours:g} h")
        rows += iot_rows(run_k, "aggregates with Kinesis", "agg")
        first_k = next(
            (s.t_s for s in run_k.samples if s.acked.get("uplink-kinesis", {}).get("raw")), None
        )
        rows += _proc_rows(run_k, "Kinesis run", first_k, run_k.done_s)
        rows += profile_rows(run_k.profile, "Kinesis run")

        bl_i = backlog.build(
            work / "i" / "log.db", THING, int(iot_hours * 3600), full_precision=full, alerts=alerts
        )
        run_i = drain(
            work / "i" / "log.db",
            THING,
            use_kinesis=False,
            timeout_s=timeout_s,
            profile_s=20 if a.profile else 0,
        )
        if run_i.done_s is None:
            rows.append(
                {
                    "figure": "(b) IoT run did not finish",
                    "value": timeout_s,
                    "unit": "s",
                    "note": run_i.exit_output[-300:],
                }
            )
        rows += iot_rows(run_i, f"{alerts} alerts, one per message", "alert")
        rows += iot_rows(run_i, f"raw over IoT Core, {iot_hours:g} h backlog", "raw")
        assert run_i.cloud is not None
        seen = _decoded_identities([m.payload for m in run_i.cloud.received])
        want = bl_i.raw_records + bl_i.iot_records
        rows.append(
            {
                "figure": "(b) IoT run: records at IoT Core, missing / duplicated",
                "value": f"{want - len(seen)} / {sum(n - 1 for n in seen.values())}",
                "unit": "records",
                "goal": "0 missing",
            }
        )
        first_i = next(
            (s.t_s for s in run_i.samples if s.acked.get("uplink-iot", {}).get("raw")), None
        )
        rows.append(
            {
                "figure": "(b) IoT run: whole backlog drained",
                "value": run_i.done_s,
                "unit": "s",
                "note": f"{bl_i.raw_records:,} raw records",
            }
        )
        rows += _proc_rows(run_i, "IoT run", first_i, run_i.done_s)
        rows += profile_rows(run_i.profile, "IoT run")
    finally:
        if a.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    emit("uplink-quick" if a.quick else "uplink", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
