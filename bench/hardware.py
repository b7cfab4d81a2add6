"""Hardware benchmark: CPU time per reading per driver, and the highest ADXL345 FIFO rate the
emulated bus sustains in real time.

    python bench/hardware.py [--out bench/results/hardware.json] [--seconds 2]

Per-driver figures run on virtual time (sleeps advance a manual clock), so they are pure CPU:
the driver's bus calls and decoding plus the chip model answering them. The decode-only column
is what a Pi pays beyond the bus I/O itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.report import emit  # noqa: E402
from components.core.clock import ManualClock, SystemClock  # noqa: E402
from components.lib.drivers import ads1115, adxl345, bme280, ina219, sht3x  # noqa: E402
from components.lib.drivers.ads1115 import Ads1115  # noqa: E402
from components.lib.drivers.adxl345 import Adxl345  # noqa: E402
from components.lib.drivers.bme280 import Bme280  # noqa: E402
from components.lib.drivers.ina219 import Ina219  # noqa: E402
from components.lib.drivers.sht3x import Sht3x  # noqa: E402
from edge_sim.hardware.bus import SimBus, build_bus  # noqa: E402
from edge_sim.hardware.chips.bme280 import DEFAULT_CAL  # noqa: E402
from edge_sim.world import scenario  # noqa: E402

CHIPS = [
    ("bme280", 0x76, Bme280),
    ("sht3x", 0x44, Sht3x),
    ("ina219", 0x40, Ina219),
    ("ads1115", 0x48, Ads1115),
    ("adxl345", 0x53, Adxl345),
]
# addr+W, reg, addr+R, 6 data bytes = 9 bytes of 9 bits, plus start, repeated start, stop.
WIRE_BITS_PER_ENTRY = 9 * 9 + 3
CAL = DEFAULT_CAL  # the same trimming values the emulated chip carries
DECODERS = {
    "bme280": lambda: bme280.compensate(CAL, *bme280.split_raw(bytes.fromhex("655ac07eed007530"))),
    "sht3x": lambda: sht3x.decode_measurement(b"\x64\x34\x56\x73\x33\x01"),
    "ina219": lambda: (
        ina219.decode_bus(0x5DC2),
        ina219.decode_current_a(5000, 1e-4),
        ina219.decode_power_w(3000, 1e-4),
        ina219.decode_shunt_v(0x1388),
    ),
    "ads1115": lambda: ads1115.Loop().value(
        ads1115.Loop().current_ma(ads1115.counts_to_volts(14400, 4.096))
    ),
    "adxl345": lambda: adxl345.decode_sample(b"\x80\x00\xc0\xff\x00\x01", 0.0039),
}


def cpu_per_call(fn: Any, seconds: float) -> tuple[float, int]:
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        fn()
        n += 1
    return (time.process_time() - start) / n, n


def driver_figures(seconds: float) -> list[dict[str, Any]]:
    rows = []
    for chip, address, cls in CHIPS:
        clock = ManualClock()
        specs = scenario.load({"seed": 1, "chips": [{"chip": chip, "address": hex(address)}]})
        bus = build_bus(specs, clock)
        kwargs: dict[str, Any] = {"window_s": 32 / 400} if chip == "adxl345" else {}
        driver = cls(bus, address, clock.advance, **kwargs)
        driver.init()
        per_read, n = cpu_per_call(driver.read, seconds)
        per_decode, _ = cpu_per_call(DECODERS[chip], seconds / 4)
        unit_note = " (32 samples)" if chip == "adxl345" else ""
        rows.append(
            {
                "driver": chip + unit_note,
                "reads": n,
                "read_us": per_read * 1e6,
                "decode_us": per_decode * 1e6,
            }
        )
    return rows


def fifo_cpu_capacity(seconds: float) -> float:
    """FIFO entries per CPU second the driver and the emulated bus can move (virtual time)."""
    clock = ManualClock()
    specs = scenario.load({"seed": 1, "chips": [{"chip": "adxl345", "address": "0x53"}]})
    d = Adxl345(build_bus(specs, clock), 0x53, clock.advance, rate_hz=3200)
    d.init()
    entries, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        clock.advance(16 / 3200)  # half a FIFO
        entries += len(d.drain())
    return entries / (time.process_time() - start)


def fifo_sustained(rate_hz: float, seconds: float) -> dict[str, Any]:
    """Drain a real-time ADXL345 model at `rate_hz` like the driver does; count what arrives."""
    clock = SystemClock()
    specs = scenario.load({"seed": 1, "chips": [{"chip": "adxl345", "address": "0x53"}]})
    bus: SimBus = build_bus(specs, clock)
    d = Adxl345(bus, 0x53, time.sleep, rate_hz=rate_hz)
    d.init()
    start = time.monotonic()
    collected = 0
    while time.monotonic() - start < seconds:
        time.sleep(min(0.002, 16 / rate_hz / 4))
        collected += len(d.drain())
    elapsed = time.monotonic() - start
    expected = rate_hz * elapsed
    return {
        "rate_hz": rate_hz,
        "collected_per_s": collected / elapsed,
        "ratio": collected / expected,
        "overruns": d.overruns,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench/results/hardware-detail.json")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    console = Console()
    machine = (
        f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()} cpus={os.cpu_count()}"
    )

    rows = driver_figures(args.seconds / 2)
    t = Table(title=f"CPU time per reading (emulated bus, virtual time) — {machine}")
    for col in ("driver", "reads", "driver+chip µs/reading", "decode-only µs"):
        t.add_column(col, justify="right" if col != "driver" else "left")
    for r in rows:
        t.add_row(r["driver"], str(r["reads"]), f"{r['read_us']:.1f}", f"{r['decode_us']:.2f}")
    console.print(t)

    fifo = [fifo_sustained(rate, args.seconds) for rate in (100, 200, 400, 800, 1600, 3200)]
    sustained = [f for f in fifo if f["overruns"] == 0 and f["ratio"] > 0.97]
    best = max((f["rate_hz"] for f in sustained), default=0)
    t2 = Table(title="ADXL345 FIFO stream through the emulated bus (real time)")
    for col in ("ODR Hz", "collected/s", "ratio", "overruns", "sustained"):
        t2.add_column(col, justify="right")
    for f in fifo:
        ok = f in sustained
        t2.add_row(
            f"{f['rate_hz']:.0f}",
            f"{f['collected_per_s']:.0f}",
            f"{f['ratio']:.3f}",
            str(f["overruns"]),
            "[green]yes[/]" if ok else "[red]no[/]",
        )
    console.print(t2)
    capacity = fifo_cpu_capacity(args.seconds / 2)
    console.print(
        f"highest sustained ADXL345 FIFO rate: [bold]{best:.0f} Hz[/] (the emulated "
        "bus has no wire time)"
    )
    console.print(
        f"  CPU capacity of driver + emulated bus: {capacity:.0f} FIFO entries/s "
        "(includes generating the samples)"
    )
    for khz in (100, 400):
        console.print(
            f"  wire-time ceiling at {khz} kHz: {khz * 1000 / WIRE_BITS_PER_ENTRY:.0f} "
            "entries/s (one register write + one 6-byte read per entry)"
        )

    figures = [
        {
            "figure": f"cpu_per_reading_{r['driver'].split()[0]}",
            "value": r["read_us"],
            "unit": "us",
            "peer_or_limit": None,
            "ratio": None,
            "machine": machine,
        }
        for r in rows
    ]
    figures += [
        {
            "figure": f"decode_{r['driver'].split()[0]}",
            "value": r["decode_us"],
            "unit": "us",
            "peer_or_limit": None,
            "ratio": None,
            "machine": machine,
        }
        for r in rows
    ]
    figures.append(
        {
            "figure": "adxl345_fifo_highest_sustained_rate",
            "value": best,
            "unit": "Hz",
            "peer_or_limit": 3200,
            "ratio": best / 3200,
            "machine": machine,
            "detail": fifo,
        }
    )
    figures.append(
        {
            "figure": "adxl345_fifo_cpu_capacity",
            "value": capacity,
            "unit": "entries/s",
            "peer_or_limit": 3200,
            "ratio": capacity / 3200,
            "machine": machine,
        }
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    console.print(f"wrote {out}")
    # The combined table (python -m bench) reads the shared row shape.
    emit(
        "hardware",
        [
            {
                "figure": f["figure"],
                "value": f["value"],
                "unit": f["unit"],
                "peer": f["peer_or_limit"],
                "ratio": f["ratio"],
            }
            for f in figures
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
