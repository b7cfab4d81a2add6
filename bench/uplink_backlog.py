"""The device of the uplink benchmark and the backlog its 24 h outage leaves in a real log.

Ten sensors at 1 Hz and one ADXL345, with values from edge_sim/world signals rounded to each
chip's resolution (the figures a Pi would log once drivers round, see bench/uplink.py (a)).
The ADXL345 driver reads its FIFO at 400 Hz x 3 axes and logs one vibration summary per
0.25 s window (components/lib/drivers/adxl345.py), so it adds 4 raw records/s.
Alongside the raw readings: one aggregate per stream per minute and sensor health every 5 min,
the classes that travel over IoT Core when raw goes to Kinesis.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from components.core.log import Log, NewRecord
from edge_sim.world.scenario import chip_world

W0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the outage starts here
ADXL_SUMMARIES_PER_S = 4  # one summary per 0.25 s FIFO window


@dataclass(frozen=True)
class Sensor:
    stream: str
    chip: str
    places: dict[str, int]  # field -> decimal places of the chip's resolution
    per_s: int = 1


SENSORS = (
    *(
        Sensor(
            f"env/bme280@{b}-0x{a:x}",
            "bme280",
            {"temperature_c": 2, "pressure_pa": 1, "humidity_pct": 2},
        )
        for b, a in (("i2c1", 0x76), ("i2c1", 0x77), ("i2c3", 0x76), ("i2c3", 0x77))
    ),
    *(
        Sensor(f"env/sht3x@{b}-0x{a:x}", "sht3x", {"temperature_c": 2, "humidity_pct": 2})
        for b, a in (("i2c1", 0x44), ("i2c1", 0x45), ("i2c3", 0x44))
    ),
    *(
        Sensor(f"power/ina219@i2c1-0x{a:x}", "ina219", {"bus_voltage_v": 3, "current_a": 4})
        for a in (0x40, 0x41)
    ),
    Sensor("loop/ads1115@i2c1-0x48", "ads1115", {"ain0_v": 4}),
)
ADXL = Sensor(
    "vib/adxl345@i2c1-0x53",
    "adxl345",
    {"rms_x_g": 4, "rms_y_g": 4, "rms_z_g": 4, "peak_g": 4, "dominant_hz": 2, "dominant_g": 4},
    per_s=ADXL_SUMMARIES_PER_S,
)


def scalars_per_record(sensor: Sensor) -> int:
    """Scalar values in one record (the ADXL summary also carries rate_hz and samples)."""
    return len(sensor.places) + (3 if sensor is ADXL else 0)


@dataclass
class Backlog:
    raw_records: int = 0
    raw_scalars: int = 0
    iot_records: int = 0
    # cumulative raw scalars after each raw record, in log order (position order)
    raw_scalar_marks: list[int] | None = None


def rows(
    sensor: Sensor, seed: int, start_s: int, seconds: int, full_precision: bool
) -> Iterator[tuple[int, dict]]:
    """(wall_ms, payload) of one sensor; `full_precision` keeps every float digit, as the
    drivers report today (resolution is not rounded off before the log)."""
    world = chip_world(sensor.chip, sensor.stream, seed)
    sig = world.signals
    step_ms = 1000 // sensor.per_s
    for k in range(seconds * sensor.per_s):
        t_ms = start_s * 1000 + k * step_ms
        t_s = t_ms / 1000
        if sensor is ADXL:
            x, y, z = (sig[a].value(t_s) for a in ("accel_x_g", "accel_y_g", "accel_z_g"))
            p = {
                "rate_hz": 400.0,
                "samples": 100,
                "rms_x_g": 0.14 + abs(x) * 0.007,
                "rms_y_g": 0.035 + abs(y) * 0.007,
                "rms_z_g": 0.014 + abs(z - 1.0) * 0.007,
                "peak_g": 0.3 + abs(x) * 0.05,
                "dominant_hz": 24.0 if k % 7 else 48.0,
                "dominant_g": 0.2 + abs(y) * 0.01,
                "overruns": 0,
            }
        else:
            p = {f: sig[f].value(t_s) for f in sensor.places}
        if not full_precision:
            p = {f: round(v, sensor.places[f]) if f in sensor.places else v for f, v in p.items()}
        yield W0_MS + t_ms, p


def build(
    path: Path,
    device: str,
    seconds: int,
    *,
    chunk_s: int = 600,
    seed: int = 7,
    full_precision: bool = False,
    alerts: int = 0,
) -> Backlog:
    """Append `seconds` of the device's data to a fresh log at `path`, in batches per chunk,
    and `alerts` threshold alerts spread over the outage (each one IoT Core message)."""
    out = Backlog(raw_scalar_marks=[])
    sensors = (*SENSORS, ADXL)
    with Log.open(path, device=device, budget_bytes=8 << 30, free_floor_bytes=0) as lg:
        gens = {s.stream: rows(s, seed, 0, seconds, full_precision) for s in sensors}
        lg.append_records(
            [
                NewRecord(
                    "alert/" + SENSORS[i % 4].stream.split("/", 1)[1],
                    "alert",
                    {
                        "rule": "temperature_high",
                        "severity": "warning",
                        "field": "temperature_c",
                        "value": round(28.0 + (i % 50) / 10, 2),
                        "threshold": 28.0,
                        "window_s": 60,
                        "message": "temperature above 28.0 degC for 60 s",
                    },
                    wall_ms=W0_MS + (i * seconds // alerts) * 1000,
                )
                for i in range(alerts)
            ]
        )
        out.iot_records += alerts
        for start in range(0, seconds, chunk_s):
            span = min(chunk_s, seconds - start)
            raw: list[NewRecord] = []
            iot: list[NewRecord] = []
            for s in sensors:
                chunk = [next(gens[s.stream]) for _ in range(span * s.per_s)]
                raw += [NewRecord(s.stream, "raw", p, wall_ms=w) for w, p in chunk]
                n = scalars_per_record(s)
                assert out.raw_scalar_marks is not None
                for _ in chunk:
                    out.raw_scalars += n
                    out.raw_scalar_marks.append(out.raw_scalars)
                first = next(iter(s.places))
                for m in range(0, len(chunk), 60 * s.per_s):
                    vals = [p[first] for _w, p in chunk[m : m + 60 * s.per_s]]
                    iot.append(
                        NewRecord(
                            "agg/" + s.stream.split("/", 1)[1],
                            "aggregate",
                            {
                                "field": first,
                                "mean": round(sum(vals) / len(vals), 4),
                                "min": min(vals),
                                "max": max(vals),
                                "count": len(vals),
                            },
                            wall_ms=chunk[m][0],
                        )
                    )
                for m in range(0, span, 300):
                    iot.append(
                        NewRecord(
                            "health/" + s.stream.split("/", 1)[1],
                            "health",
                            {
                                "event": "sensor_stats",
                                "reads": (start + m) * s.per_s,
                                "errors": 0,
                                "status": "ok",
                            },
                            wall_ms=W0_MS + (start + m) * 1000,
                        )
                    )
            lg.append_records(raw)
            lg.append_records(iot)
            out.raw_records += len(raw)
            out.iot_records += len(iot)
        lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return out
