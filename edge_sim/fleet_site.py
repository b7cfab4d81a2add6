"""The simulated site every fleet device is: the components it runs, the chips on its bus, its
battery, and the analytics that watch them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.core import battery

UPLINK = "com.floorline.Uplink"
SENSORS = "com.floorline.Sensors"
RFID = "com.floorline.Rfid"
ANALYTICS = "com.floorline.Analytics"
HTTP_INGEST = "com.floorline.HttpIngest"
CONSOLE = "com.floorline.Console"
COMPONENTS = (SENSORS, RFID, ANALYTICS, UPLINK, HTTP_INGEST, CONSOLE)


def short_name(component: str) -> str:
    """`com.floorline.Uplink` -> `Uplink`: the name the live table and `floorline status`
    show, and the one each component records its state under."""
    return component.rsplit(".", 1)[-1]


# Each simulated device is a battery-powered node: its INA219 measures a 3-cell lithium-ion
# pack (edge_sim/world Battery), drained over BATTERY_LIFE_S and swapped near empty.
BATTERY_CELLS = 3
BATTERY_LIFE_S = 8 * 3600.0
LOW_BATTERY_PCT = 15.0  # the analytics raise a warning below this charge
CRITICAL_BATTERY_PCT = 7.0  # and a critical alert below this one
BATTERY_STREAM = "power/ina219@0x40"

# The simulated site's analytics: an overheating machine is a critical alert (the alarm
# output goes on), a battery running low a warning; the vibration windows know their rate.
ANALYTICS_DETECTORS = {
    BATTERY_STREAM: {
        "fields": ["bus_voltage_v"],
        "detectors": [
            {
                "type": "battery",
                "field": "bus_voltage_v",
                "warningBelow": round(battery.volts(LOW_BATTERY_PCT, BATTERY_CELLS), 3),
                "criticalBelow": round(battery.volts(CRITICAL_BATTERY_PCT, BATTERY_CELLS), 3),
                "hysteresis": 0.1,
            }
        ],
    },
    "env/bme280@0x76": {
        "fields": ["temperature_c", "humidity_pct"],
        "detectors": [
            {
                "type": "threshold",
                "field": "temperature_c",
                "high": 30,
                "low": -5,
                "hysteresis": 1.0,
                "severity": "critical",
            }
        ],
    },
}

# What each simulated device has on its bus and serial ports. ADXL345 vibration is sampled in
# FIFO bursts (the high-rate raw stream that goes to Kinesis).
CHIPS: list[dict[str, Any]] = [
    {"driver": "bme280", "address": "0x76", "sampleIntervalSeconds": 1.0},
    {"driver": "sht3x", "address": "0x44", "sampleIntervalSeconds": 1.0},
    {
        "driver": "ina219",
        "address": "0x40",
        "sampleIntervalSeconds": 1.0,
        "batteryCells": BATTERY_CELLS,
    },
    {"driver": "ads1115", "address": "0x48", "sampleIntervalSeconds": 1.0},
    {"driver": "adxl345", "address": "0x53", "sampleIntervalSeconds": 0.5},
]


def device_world(
    seed: int,
    anomaly_at_s: float | None,
    chip_faults: Mapping[str, list[Any]] | None = None,
    battery_pct: float = 100.0,
    battery_life_s: float = BATTERY_LIFE_S,
) -> dict[str, Any]:
    """One device's scenario (edge_sim/world): its chips, signals, faults and RFID reader.
    `chip_faults`: world faults by chip address (unplugged, noisy_line, dropout, ...), timed
    from the sensors process's start; `battery_pct`: the pack's charge at the start."""
    chips: list[dict[str, Any]] = [
        {
            "chip": c["driver"],
            "address": c["address"],
            "faults": list((chip_faults or {}).get(c["address"], [])),
        }
        for c in CHIPS
    ]
    for chip in chips:
        if chip["chip"] == "ina219":
            chip["signals"] = {
                "bus_voltage_v": {
                    "type": "battery",
                    "cells": BATTERY_CELLS,
                    "startPct": battery_pct,
                    "lifeSeconds": battery_life_s,
                }
            }
    if anomaly_at_s is not None:
        # An overheating machine: the BME280 sees a spike the analytics must raise and clear.
        chips[0]["faults"].append(
            {
                "kind": "spike",
                "signal": "temperature_c",
                "magnitude": 15.0,
                "startSeconds": anomaly_at_s,
                "endSeconds": anomaly_at_s + 20,
            }
        )
    return {
        "seed": seed,
        "chips": chips,
        "readers": [
            {"protocol": "rdm6300", "name": "dock", "tagsPerHour": 600, "dwellSeconds": 4.0}
        ],
    }
