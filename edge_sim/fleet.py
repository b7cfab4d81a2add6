"""A simulated fleet: a broker (the local IoT Core), devices, faults, and the reckoning.

    python -m edge_sim run --devices 3 --duration 120 --out DIR [--seed S] [--scenario FILE]

Components are deployed from `greengrass-build/` (built first if missing or stale), so what
runs here is byte for byte what `python -m cloud.greengrass publish` uploads.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from cloud.greengrass.profiles import PROFILES, uplink_settings
from components.core import battery
from components.core.clock import UNSYNCED_UNTIL_ENV
from components.core.log import Log
from edge_sim.cloud_side import CloudSide
from edge_sim.nucleus.access import CLASSIC
from edge_sim.nucleus.lifecycle import stop_all

log = logging.getLogger("edge_sim.fleet")

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
    {"driver": "ina219", "address": "0x40", "sampleIntervalSeconds": 1.0,
     "batteryCells": BATTERY_CELLS},
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
            chip["signals"] = {"bus_voltage_v": {
                "type": "battery", "cells": BATTERY_CELLS, "startPct": battery_pct,
                "lifeSeconds": battery_life_s}}
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


class ScenarioError(ValueError):
    pass


def component_name(text: str) -> str:
    """The full component name for `text`, given as the live table shows it (`Uplink`) or
    in full (`com.floorline.Uplink`), in any case; else ScenarioError naming the valid ones."""
    for full in COMPONENTS:
        if text.lower() in (full.lower(), short_name(full).lower()):
            return full
    valid = ", ".join(f"{short_name(c)} ({c})" for c in COMPONENTS)
    raise ScenarioError(f"unknown component {text!r}: one of {valid}")


def check_within(faults: list[Fault], duration_s: float) -> None:
    """Refuse faults the run would never reach, before it starts (rather than skip them)."""
    late = [f for f in faults if f.at_s >= duration_s]
    if late:
        what = "; ".join(f"{f.kind} at {f.at_s:g} s" for f in late)
        raise ScenarioError(f"{len(late)} fault(s) start at or after the end of the "
                            f"{duration_s:g} s run: {what} (lengthen --duration or move them)")


@dataclass(frozen=True)
class Fault:
    at_s: float
    kind: str  # one of KINDS
    devices: tuple[str, ...] | None  # None: every device
    duration_s: float = 0.0
    component: str | None = None
    magnitude: float = 1.0
    chip: str | None = None  # unplug: the chip's address

    # outage: the device's network link is cut; kill: SIGKILL of a component (random if not
    # named); kinesis_outage: Kinesis refuses every call; noisy_serial: RFID lines corrupt
    # bytes (magnitude = noise bytes per frame); unplug: a chip stops answering on the bus
    # (the world's `unplugged` fault, timed from the sensors' start) until the end of
    # `duration` (0: for good).
    # disk_pressure: another program fills the device's data disk until only `magnitude`
    # bytes are free (needs the fleet's `data_disk_bytes`: a real small filesystem).
    # log_damage: a power cut that damages the log: every component of the device is killed,
    # then garbage lands on a page no record lives on (the streams index); the components
    # restart together, find the file damaged, and one of them salvages it.
    KINDS: ClassVar[tuple[str, ...]] = (
        "outage",
        "kill",
        "kinesis_outage",
        "noisy_serial",
        "disk_pressure",
        "unplug",
        "log_damage",
    )


def load_scenario(path: Path | None, default: list[dict[str, Any]]) -> list[Fault]:
    """Faults from a YAML file: `faults: [{at: 30, fault: outage, duration: 20, devices:
    [dev-001]}, {at: 50, fault: kill, component: com.floorline.Uplink}]`."""
    raw = default
    if path is not None:
        try:
            doc = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{path}: {exc}") from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("faults", []), list):
            raise ScenarioError(f"{path}: expected a mapping with a 'faults' list")
        raw = doc.get("faults", [])
    faults = []
    for i, f in enumerate(raw):
        if not isinstance(f, Mapping) or f.get("fault") not in Fault.KINDS:
            raise ScenarioError(f"fault {i}: 'fault' must be one of {Fault.KINDS}")
        try:
            at = float(f.get("at", 0))
            duration = float(f.get("duration", 0))
        except (TypeError, ValueError):
            raise ScenarioError(f"fault {i}: 'at' and 'duration' are seconds") from None
        devices = f.get("devices")
        if devices is not None and not (
            isinstance(devices, list) and all(isinstance(d, str) for d in devices)
        ):
            raise ScenarioError(f"fault {i}: 'devices' is a list of thing names")
        component = f.get("component")
        if component is not None:
            if f["fault"] != "kill":
                raise ScenarioError(f"fault {i}: 'component' applies to kill only")
            try:
                component = component_name(str(component))
            except ScenarioError as exc:
                raise ScenarioError(f"fault {i}: {exc}") from None
        try:
            magnitude = float(f.get("magnitude", 1.0))
        except (TypeError, ValueError):
            raise ScenarioError(f"fault {i}: 'magnitude' is a number") from None
        chip = f.get("chip")
        if (chip is not None) != (f["fault"] == "unplug"):
            raise ScenarioError(f"fault {i}: 'chip' (an address such as 0x44) goes with unplug, "
                                "and only with it")
        if chip is not None and str(chip) not in {c["address"] for c in CHIPS}:
            raise ScenarioError(f"fault {i}: no chip at {chip}; the simulated chips are "
                                + ", ".join(f"{c['driver']} at {c['address']}" for c in CHIPS))
        faults.append(Fault(at, f["fault"], tuple(devices) if devices else None, duration,
                            component, magnitude, None if chip is None else str(chip)))
    return sorted(faults, key=lambda f: f.at_s)


DEFAULT_FAULTS: list[dict[str, Any]] = [
    {"at": 0.35, "fault": "outage", "duration": 0.25},  # fractions of the run (see _scale)
    {"at": 0.5, "fault": "kill", "component": UPLINK},
]


@dataclass
class FleetResult:
    devices: int
    duration_s: float
    produced: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    evicted: Counter[str] = field(default_factory=Counter)
    buffered: Counter[str] = field(default_factory=Counter)
    duplicates_received: int = 0  # redeliveries the lake dropped by identity
    duplicates_in_lake: int = 0  # must stay 0: exactly once in the lake
    rejected: dict[str, int] = field(default_factory=dict)
    alerts_raised: int = 0
    alerts_cleared: int = 0
    kills: int = 0
    restarts: int = 0
    broken: list[str] = field(default_factory=list)
    unaccounted: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)  # what happened, when, where
    salvages: int = 0  # log files found damaged at start-up and salvaged

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


class Fleet:
    def __init__(
        self,
        out: Path,
        devices: int,
        *,
        seed: int = 1,
        faults: list[Fault] | None = None,
        site: str = "site-1",
        build_dir: Path | None = None,
        extra_config: Mapping[str, Any] | None = None,
        sm_speed: float = 60.0,
        anomaly_at_s: float | None = None,
        chip_faults: Mapping[str, list[Any]] | None = None,
        unsynced_s: Mapping[str, float] | None = None,
        data_disk_bytes: int | None = None,
        lake_buffer_s: float = 1.0,
        battery_life_s: float = BATTERY_LIFE_S,
        nucleus: str = CLASSIC,
    ) -> None:
        """`chip_faults`: world faults per chip address on every device; `unsynced_s`: devices
        whose wall clock boots unsynced, and for how many seconds; `data_disk_bytes`: each
        device's data folder (its log) on a tmpfs of that size (root only), so disk pressure
        is the kernel's own "no space left"; `lake_buffer_s`: the cloud side buffers
        deliveries this long per lake write, as Firehose does, in a process of its own (0:
        each delivery written as it arrives, in this process); `battery_life_s`: how long a
        device's battery pack lasts from full (each starts part-charged, seeded); `nucleus`: the
        nucleus every device plays, and the deployment profile its components get
        (cloud/greengrass/profiles.py: on lite no Stream Manager, the uplink's raw readings go
        to IoT Core)."""
        self.nucleus = nucleus
        self.profile = PROFILES[nucleus]
        self.out = Path(out).resolve()
        self.n = devices
        self.seed = seed
        self.rng = random.Random(seed)
        self.faults = faults or []
        self.site = site
        self.build_dir = build_dir
        self.extra_config = extra_config or {}
        self.sm_speed = sm_speed
        self.things = [f"dev-{i + 1:03d}" for i in range(devices)]
        self.devices: dict[str, Any] = {}
        self.broker: Any = None
        self.cloud: CloudSide | None = None
        self.kills = 0
        self.anomaly_at_s = anomaly_at_s
        self.chip_faults = chip_faults or {}
        self.unsynced_s = unsynced_s or {}
        self.data_disk_bytes = data_disk_bytes
        self.lake_buffer_s = lake_buffer_s
        self.battery_life_s = battery_life_s
        self._mounts: list[Path] = []
        self._readers: list[Any] = []
        self._device_readers: dict[str, list[Any]] = {}
        self._cloud_conns: list[Any] = []  # each device's MQTT connection, closed at stop
        self.kinesis_sink: Any = None
        self.happened: list[dict[str, Any]] = []  # each fault as applied
        self.ran_s = 0.0

    # ------------------------------------------------------------------ set-up
    def _built(self) -> Mapping[str, Any]:
        from cloud.greengrass import build as gg_build
        from cloud.greengrass import layout
        from cloud.greengrass.project import component_sources
        from cloud.greengrass.recipe import PRIVILEGED_PACKAGE

        build_dir = self.build_dir or (self.out / "greengrass-build")
        if not (build_dir / layout.BUILD_INDEX).exists():
            sources = component_sources(layout.REPO_ROOT)
            with_code = [
                s.key
                for s in sources
                if s.package
                and (layout.REPO_ROOT / "components" / s.package / "__main__.py").exists()
            ]
            missing = [s.key for s in sources if s.package and s.key not in with_code]
            # DevicePrep joins groups and makes folders on the machine as root: a simulated
            # device has its own log folder under its root and nothing to join, so it is not run.
            runnable = [
                s.key for s in sources if s.key in with_code and s.package != PRIVILEGED_PACKAGE
            ]
            if missing:
                log.warning("event=components_without_code skipped=%s", missing)
            gg_build.build(out=build_dir, components=runnable)
        return gg_build.load_build(build_dir)

    def _config(
        self, thing: str, name: str, built: Any, hardware: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Deployment-time configuration of one component on one device: the device's own
        log and site, for the keys the recipe declares, plus the run's own settings."""
        defaults = (built.recipe.get("ComponentConfiguration") or {}).get(
            "DefaultConfiguration"
        ) or {}
        root = self.out / "devices" / thing
        common = {
            "siteId": self.site,
            "logPath": str(root / "data" / "log.sqlite"),
            "logBudgetBytes": 256 << 20,
            "freeDiskFloorBytes": 0,
        }
        cfg = {k: v for k, v in common.items() if k in defaults}
        if name == UPLINK:
            # Shorter waits than a site would use, so a short run shows everything.
            cfg |= {"shadowIntervalSeconds": 10.0, "batchMaxDelaySeconds": 2.0}
        if name == SENSORS:
            cfg |= {"chips": CHIPS}
        if name == ANALYTICS:
            cfg |= {"detectors": ANALYTICS_DETECTORS, "silentAfterSeconds": 60}
        if name in (HTTP_INGEST, CONSOLE):
            cfg |= {"port": 0, "bindAddress": "127.0.0.1"}  # many devices on one host
        if name == RFID and hardware is not None:
            cfg |= {"readers": [{"model": "rdm6300", "port": hardware["dock"], "baudRate": 9600}]}
        cfg |= dict(self.extra_config.get(name, {}))
        if name == UPLINK:
            settled = uplink_settings(self.profile, {**defaults, **cfg})
            profile_keys = (*self.profile.uplink_merge, *self.profile.uplink_maxima)
            cfg |= {key: settled[key] for key in profile_keys}
        return cfg

    def start(self) -> None:
        from edge_sim.broker import Broker, MqttCloudConnection
        from edge_sim.device import Device
        from edge_sim.stream_manager import LocalDirKinesis

        self.out.mkdir(parents=True, exist_ok=True)
        built = self._built()
        self.broker = Broker(self.out / "broker")
        self.broker.start()
        kinesis_root = self.out / "cloud" / "kinesis"
        sink = self.kinesis_sink = LocalDirKinesis(kinesis_root)
        self.cloud = CloudSide(self.broker, kinesis_root, self.out / "lake", self.lake_buffer_s)
        self.cloud.start()
        from edge_sim.hardware.readers import start_readers

        for i, thing in enumerate(self.things):
            conn = MqttCloudConnection(self.broker, thing)
            conn.connect()
            root = self.out / "devices" / thing
            root.mkdir(parents=True, exist_ok=True)
            if self.data_disk_bytes:
                self._mount_data_disk(root / "data")
            world = device_world(self.rng.randrange(1 << 30), self.anomaly_at_s if i == 0 else None,
                                 self._chip_faults(thing), round(self.rng.uniform(25, 100), 1),
                                 self.battery_life_s)
            (root / "world.json").write_text(json.dumps(world, indent=1))
            readers = start_readers(world)
            self._readers.extend(readers.values())
            self._device_readers[thing] = list(readers.values())
            ports = {name: r.path for name, r in readers.items()}
            per_component = {name: self._config(thing, name, b, ports) for name, b in built.items()}
            env = {
                "FLOORLINE_I2C_BUS": "sim",
                "FLOORLINE_SIM_SCENARIO": str(root / "world.json"),
                "GPIOZERO_PIN_FACTORY": "mock",
            }
            if thing in self.unsynced_s:
                sync_at = time.monotonic_ns() + int(self.unsynced_s[thing] * 1e9)
                env[UNSYNCED_UNTIL_ENV] = str(sync_at)
            dev = Device(
                thing,
                root,
                built,
                cloud=conn,
                kinesis_sink=sink,
                overrides=per_component,
                extra_env=env,
                sm_speed=self.sm_speed,
                nucleus=self.nucleus,
            )
            self._cloud_conns.append(conn)
            dev.start()
            self.devices[thing] = dev
            self._write_console_config(thing, dev, built, ports)

    def _chip_faults(self, thing: str) -> dict[str, list[dict[str, Any]]]:
        """The run's chip faults and the scenario's unplugs for this device, by address."""
        out = {a: list(fs) for a, fs in self.chip_faults.items()}
        for f in self.faults:
            if f.kind == "unplug" and f.chip and (f.devices is None or thing in f.devices):
                out.setdefault(f.chip, []).append(
                    {"kind": "unplugged", "startSeconds": f.at_s,
                     "endSeconds": f.at_s + f.duration_s if f.duration_s else None})
        return out

    def console_config_path(self, thing: str) -> Path:
        return self.out / "devices" / thing / "console.json"

    def console_command(self, thing: str) -> str:
        """The `floorline` line a technician types for this simulated device."""
        return f"floorline --config {self.console_config_path(thing)} --device {thing} status"

    def _write_console_config(self, thing: str, dev: Any, built: Mapping[str, Any],
                              ports: Mapping[str, str]) -> None:
        """What `floorline` needs to look at this device from a shell on this host, as
        /etc/floorline/console.json would on a real one: its log, site, nucleus socket
        (edge_sim names it differently from either nucleus), components and serial ports."""
        console = built.get(CONSOLE)
        cfg = self._config(thing, CONSOLE, console) if console is not None else {}
        cfg |= {
            "siteId": self.site,
            "logPath": str(self.out / "devices" / thing / "data" / "log.sqlite"),
            "freeDiskFloorBytes": 0,
            "nucleusSocket": dev.socket_path,
            "components": [short_name(n) for n in sorted(dev.components) if n != CONSOLE],
            "serialPorts": sorted(ports.values()),
        }
        cfg.pop("port", None)
        cfg.pop("bindAddress", None)
        self.console_config_path(thing).write_text(json.dumps(cfg, indent=1))

    # ------------------------------------------------------------------ running
    def run(self, duration_s: float, progress: Any = None) -> None:
        t0 = time.monotonic()
        self._t0 = t0
        pending = list(self.faults)
        undo: list[tuple[float, Callable[[], None]]] = []
        try:
            while (elapsed := time.monotonic() - t0) < duration_s:
                self.ran_s = elapsed
                while pending and pending[0].at_s <= elapsed:
                    fault = pending.pop(0)
                    undo += [(elapsed + fault.duration_s, u) for u in self._apply(fault)]
                for item in [u for u in undo if u[0] <= elapsed]:
                    item[1]()
                    undo.remove(item)
                for dev in self.devices.values():
                    dev.supervise()
                if progress is not None:
                    progress(elapsed, self)
                time.sleep(0.2)
        finally:  # interrupted too: an outage left on would keep the final drain from the cloud
            self.ran_s = time.monotonic() - t0
            for _at, action in undo:
                action()

    def _mount_data_disk(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.data_disk_bytes}", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
        self._mounts.append(path)

    def _fill_disk(self, thing: str, leave_free: int) -> Callable[[], None]:
        hog = self.out / "devices" / thing / "data" / "hog.bin"
        st = os.statvfs(hog.parent)
        size = max(0, st.f_bavail * st.f_frsize - leave_free)
        with open(hog, "wb") as f:
            f.write(b"\0" * size)
        return lambda: hog.unlink(missing_ok=True)

    def _apply(self, fault: Fault) -> list[Callable[[], None]]:
        """Start a fault; returns what ends it (for faults with a duration)."""
        targets = fault.devices or tuple(self.things)
        log.info(
            "event=fault kind=%s devices=%s duration_s=%.0f", fault.kind, targets, fault.duration_s
        )
        applied: dict[str, Any] = {"kind": fault.kind, "at_s": round(fault.at_s, 1),
                                   "devices": list(targets)}
        if fault.duration_s:
            applied["duration_s"] = round(fault.duration_s, 1)
        if fault.kind in ("disk_pressure", "noisy_serial"):
            applied["magnitude"] = fault.magnitude
        self.happened.append(applied)
        if fault.kind == "outage":
            links = [self.broker.link(t) for t in targets]
            for link in links:
                link.cut()
            return [link.restore for link in links]
        if fault.kind == "kinesis_outage":
            self.kinesis_sink.available = False
            return [lambda: setattr(self.kinesis_sink, "available", True)]
        if fault.kind == "disk_pressure":
            return [self._fill_disk(t, int(fault.magnitude)) for t in targets]
        if fault.kind == "unplug":
            applied["chip"] = fault.chip
            return []  # the world unplugs it on time (in the sensors process)
        if fault.kind == "log_damage":
            for t in targets:
                for component in self.devices[t].components.values():
                    component.kill()
                    self.kills += 1
                _damage_streams_index(self.out / "devices" / t / "data" / "log.sqlite")
            return []
        if fault.kind == "noisy_serial":
            readers = [r for t in targets for r in self._device_readers.get(t, [])]
            for r in readers:
                r.set_noise(fault.magnitude)
            return [functools.partial(r.set_noise, 0.0) for r in readers]
        killed = []
        for thing in targets:
            dev = self.devices[thing]
            name = fault.component or self.rng.choice(sorted(dev.components))
            if name in dev.components:
                dev.components[name].kill()
                self.kills += 1
                killed.append(f"{thing}/{short_name(name)}")
        applied["killed"] = killed
        return []

    def drain(self, timeout_s: float) -> None:
        """Let the uplinks finish the backlog (everything reachable reaches the cloud): the
        logs' uplink backlog, Stream Manager's unexported messages and the nucleus spools
        empty (the uplink acknowledges a record once the nucleus spooled it), then the rules
        bridge quiet for a second (what the broker accepted has been taken)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for dev in self.devices.values():
                dev.supervise()
            if (
                self._backlog() == 0
                and not any(d.unexported() for d in self.devices.values())
                and not any(len(d.nucleus.mqtt.spool) for d in self.devices.values())
            ):
                break
            time.sleep(0.5)
        else:
            log.warning("event=drain_timed_out backlog=%d", self._backlog())
        taken = -1
        while self.cloud is not None and time.monotonic() < deadline + 10.0:
            if self.cloud.bridge_messages == taken:
                return
            taken = self.cloud.bridge_messages
            time.sleep(1.0)

    def _backlog(self) -> int:
        total = 0
        for thing in self.things:
            path = self.out / "devices" / thing / "data" / "log.sqlite"
            if not path.exists():
                continue
            with Log.open(path, device=thing, free_floor_bytes=0) as lg:
                for name, consumer in lg.stats()["backlog"].items():
                    if name.startswith("uplink"):  # what still has to reach the cloud
                        total += sum(b["records"] for b in consumer.values())
        return total

    def stop(self, drain_s: float = 30.0) -> FleetResult | None:
        """Stop the producers, let the uplinks and Stream Manager deliver what they wrote on
        the way out, stop everything; the reckoning, or None if the cloud never came up."""
        stop_all(c for dev in self.devices.values() for n, c in dev.components.items()
                 if n != UPLINK)  # fmt: skip
        if self.devices:
            self.drain(drain_s)
        stop_all(c for dev in self.devices.values() for c in dev.components.values())
        for dev in self.devices.values():
            dev.stop()
        for conn in self._cloud_conns:
            conn.disconnect()
        for reader in self._readers:
            reader.stop()
        result = None
        if self.cloud is not None:
            time.sleep(1.0)
            self.cloud.stop()
            result = self.reckon(self.ran_s)
            self.cloud.close()
        for path in self._mounts:
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
        if self.broker is not None:
            self.broker.stop()
        return result

    # ------------------------------------------------------------------ reckoning
    def reckon(self, duration_s: float = 0.0) -> FleetResult:
        """From sequence numbers alone, against what the lake holds:
        produced = in the lake + evicted by policy + still buffered; nothing twice."""
        from cloud.lake.query import query

        assert self.cloud is not None
        lake = self.cloud.lake
        assert lake is not None, "reckoning reads the lake this process holds"
        _, rows = query(
            lake,
            "SELECT device, stream, seq, count(*) FROM telemetry GROUP BY device, stream, seq",
        )
        in_lake = {(dev, stream, seq) for dev, stream, seq, _n in rows}
        res = FleetResult(self.n, duration_s)
        res.duplicates_in_lake = sum(n - 1 for *_k, n in rows)
        for thing in self.things:
            path = self.out / "devices" / thing / "data" / "log.sqlite"
            if not path.exists():
                continue
            with Log.open(path, device=thing, free_floor_bytes=0) as lg:
                res.salvages += lg.stats()["counters"].get("salvage_events", 0)
                evicted: dict[tuple[str, str], set[int]] = {}
                for e in lg.evictions():
                    evicted.setdefault((e["device"], e["stream"]), set()).update(
                        range(e["first_seq"], e["last_seq"] + 1)
                    )
                held = {(r.device, r.stream, r.seq) for r in lg.snapshot_records()}
                # Numbers a salvage skipped were never used, or used by records it could not
                # read: produced only if the lake has them.
                skipped: dict[tuple[str, str], set[int]] = {}
                for k in lg.seq_skips():
                    skipped.setdefault((k["device"], k["stream"]), set()).update(
                        range(k["first_seq"], k["last_seq"] + 1)
                    )
                for s in lg.streams():
                    key = (s["device"], s["stream"])
                    for seq in range(1, s["produced"] + 1):
                        ident = (*key, seq)
                        if seq in skipped.get(key, ()) and ident not in in_lake:
                            continue
                        res.produced[s["cls"]] += 1
                        if ident in in_lake:
                            res.delivered[s["cls"]] += 1
                        elif seq in evicted.get(key, ()):
                            res.evicted[s["cls"]] += 1
                        elif ident in held:
                            res.buffered[s["cls"]] += 1
                        else:
                            res.unaccounted += 1
        stats = lake.stats()
        res.duplicates_received = stats.get("duplicates_dropped", 0)
        res.rejected = {"quarantined_batches": stats.get("quarantined_batches", 0)}
        _, alerts = query(lake, "SELECT payload FROM telemetry WHERE cls = 'alert'")
        for (payload,) in alerts:
            state = str(json.loads(payload).get("state", ""))
            if state in ("raise", "raised", "open"):
                res.alerts_raised += 1
            elif state in ("clear", "cleared", "closed"):
                res.alerts_cleared += 1
        res.kills = self.kills
        res.faults = list(self.happened)
        for dev in self.devices.values():
            for c in dev.components.values():
                res.restarts += max(0, c.starts - 1)
                if c.state == "BROKEN":
                    res.broken.append(f"{dev.thing}/{c.name}")
        (self.out / "summary.json").write_text(json.dumps(res.as_dict(), indent=2))
        return res


def _damage_streams_index(path: Path) -> None:
    """Garbage over the streams table's unique index page (in the database file, after a
    checkpoint so the WAL holds no newer copy; no process has the file open): `quick_check`
    fails, and every record, counter and offset is still readable by a salvage."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name='sqlite_autoindex_streams_1'"
        ).fetchone()
    finally:
        conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(random.Random(root).randbytes(page_size))
        f.flush()
        os.fsync(f.fileno())
