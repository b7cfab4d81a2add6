"""A simulated fleet: a broker (the local IoT Core), devices, faults, and the reckoning.

    python -m edge_sim run --devices 3 --duration 120 --out DIR [--seed S] [--scenario FILE]

Components are deployed from `greengrass-build/` (built first if missing or stale), so what
runs here is byte for byte what `python -m cloud.greengrass publish` uploads.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.core.log import Log
from edge_sim.cloud_side import CloudSide

log = logging.getLogger("edge_sim.fleet")

UPLINK = "com.floorline.Uplink"
SENSORS = "com.floorline.Sensors"
RFID = "com.floorline.Rfid"

# What each simulated device has on its bus and serial ports. ADXL345 vibration is sampled in
# FIFO bursts (the high-rate raw stream that goes to Kinesis).
CHIPS = [
    {"driver": "bme280", "address": "0x76", "sampleIntervalSeconds": 1.0},
    {"driver": "sht3x", "address": "0x44", "sampleIntervalSeconds": 1.0},
    {"driver": "ina219", "address": "0x40", "sampleIntervalSeconds": 1.0},
    {"driver": "ads1115", "address": "0x48", "sampleIntervalSeconds": 1.0},
    {"driver": "adxl345", "address": "0x53", "sampleIntervalSeconds": 0.5},
]


def device_world(seed: int, anomaly_at_s: float | None) -> dict[str, Any]:
    """One device's scenario (edge_sim/world): its chips, signals, faults and RFID reader."""
    chips: list[dict[str, Any]] = [{"chip": c["driver"], "address": c["address"]} for c in CHIPS]
    if anomaly_at_s is not None:
        # An overheating machine: the BME280 sees a spike the analytics must raise and clear.
        chips[0]["faults"] = [
            {
                "kind": "spike",
                "signal": "temperature_c",
                "magnitude": 15.0,
                "startSeconds": anomaly_at_s,
                "endSeconds": anomaly_at_s + 20,
            }
        ]
    return {
        "seed": seed,
        "chips": chips,
        "readers": [
            {"protocol": "rdm6300", "name": "dock", "tagsPerHour": 600, "dwellSeconds": 4.0}
        ],
    }


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    at_s: float
    kind: str  # outage | kill
    devices: tuple[str, ...] | None  # None: every device
    duration_s: float = 0.0
    component: str | None = None

    KINDS = ("outage", "kill")


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
        faults.append(
            Fault(at, f["fault"], tuple(devices) if devices else None, duration, f.get("component"))
        )
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
    duplicates_received: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    alerts_raised: int = 0
    alerts_cleared: int = 0
    kills: int = 0
    restarts: int = 0
    broken: list[str] = field(default_factory=list)
    unaccounted: int = 0

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
    ) -> None:
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
        self._readers: list[Any] = []

    # ------------------------------------------------------------------ set-up
    def _built(self) -> Mapping[str, Any]:
        from cloud.greengrass import build as gg_build
        from cloud.greengrass import layout
        from cloud.greengrass.project import component_sources

        build_dir = self.build_dir or (self.out / "greengrass-build")
        if not (build_dir / layout.BUILD_INDEX).exists():
            sources = component_sources(layout.REPO_ROOT)
            runnable = [
                s.key
                for s in sources
                if s.package
                and (layout.REPO_ROOT / "components" / s.package / "__main__.py").exists()
            ]
            missing = [s.key for s in sources if s.package and s.key not in runnable]
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
        if name == RFID and hardware is not None:
            cfg |= {"readers": [{"model": "rdm6300", "port": hardware["dock"], "baudRate": 9600}]}
        return cfg | dict(self.extra_config.get(name, {}))

    def start(self) -> None:
        from edge_sim.broker import Broker, MqttCloudConnection
        from edge_sim.device import Device
        from edge_sim.stream_manager import LocalDirKinesis

        self.out.mkdir(parents=True, exist_ok=True)
        built = self._built()
        self.broker = Broker(self.out / "broker")
        self.broker.start()
        kinesis_root = self.out / "cloud" / "kinesis"
        sink = LocalDirKinesis(kinesis_root)
        self.cloud = CloudSide(self.broker, kinesis_root)
        self.cloud.start()
        from edge_sim.hardware.readers import start_readers

        for i, thing in enumerate(self.things):
            conn = MqttCloudConnection(self.broker, thing)
            conn.connect()
            root = self.out / "devices" / thing
            root.mkdir(parents=True, exist_ok=True)
            world = device_world(self.rng.randrange(1 << 30), self.anomaly_at_s if i == 0 else None)
            (root / "world.json").write_text(json.dumps(world, indent=1))
            readers = start_readers(world)
            self._readers.extend(readers.values())
            ports = {name: r.path for name, r in readers.items()}
            per_component = {name: self._config(thing, name, b, ports) for name, b in built.items()}
            env = {
                "FLOORLINE_I2C_BUS": "sim",
                "FLOORLINE_SIM_SCENARIO": str(root / "world.json"),
                "GPIOZERO_PIN_FACTORY": "mock",
            }
            dev = Device(
                thing,
                root,
                built,
                cloud=conn,
                kinesis_sink=sink,
                overrides=per_component,
                extra_env=env,
                sm_speed=self.sm_speed,
            )
            dev.conn = conn
            dev.start()
            self.devices[thing] = dev

    # ------------------------------------------------------------------ running
    def run(self, duration_s: float, progress: Any = None) -> None:
        t0 = time.monotonic()
        pending = list(self.faults)
        restores: list[tuple[float, str]] = []
        while (elapsed := time.monotonic() - t0) < duration_s:
            while pending and pending[0].at_s <= elapsed:
                restores += self._apply(pending.pop(0), elapsed)
            for at, thing in list(restores):
                if at <= elapsed:
                    self.broker.link(thing).restore()
                    log.info("event=outage_end thing=%s", thing)
                    restores.remove((at, thing))
            for dev in self.devices.values():
                dev.supervise()
            if progress is not None:
                progress(elapsed, self)
            time.sleep(0.2)
        for _at, thing in restores:
            self.broker.link(thing).restore()

    def _apply(self, fault: Fault, now: float) -> list[tuple[float, str]]:
        targets = fault.devices or tuple(self.things)
        if fault.kind == "outage":
            for thing in targets:
                self.broker.link(thing).cut()
                log.info("event=outage_start thing=%s duration_s=%.0f", thing, fault.duration_s)
            return [(now + fault.duration_s, t) for t in targets]
        for thing in targets:
            dev = self.devices[thing]
            names = (
                [fault.component] if fault.component else [self.rng.choice(sorted(dev.components))]
            )
            for name in names:
                if name in dev.components:
                    dev.components[name].kill()
                    self.kills += 1
                    log.info("event=kill thing=%s component=%s", thing, name)
        return []

    def drain(self, timeout_s: float) -> None:
        """Let the uplinks finish the backlog (everything reachable reaches the cloud)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for dev in self.devices.values():
                dev.supervise()
            if self._backlog() == 0 and not any(d.unexported() for d in self.devices.values()):
                return
            time.sleep(0.5)

    def _backlog(self) -> int:
        total = 0
        for thing in self.things:
            path = self.out / "devices" / thing / "data" / "log.sqlite"
            if not path.exists():
                continue
            with Log.open(path, device=thing, free_floor_bytes=0) as lg:
                for consumer in lg.stats()["backlog"].values():
                    total += sum(b["records"] for b in consumer.values())
        return total

    def stop(self) -> FleetResult | None:
        """Stop everything; the reckoning, or None if the fleet never got its cloud up."""
        for dev in self.devices.values():
            dev.stop()
            dev.conn.disconnect()
        for reader in self._readers:
            reader.stop()
        if self.cloud is not None:
            time.sleep(1.0)
            self.cloud.stop()
        result = self.reckon() if self.cloud is not None else None
        if self.broker is not None:
            self.broker.stop()
        return result

    # ------------------------------------------------------------------ reckoning
    def reckon(self, duration_s: float = 0.0) -> FleetResult:
        """From sequence numbers alone: produced = delivered + evicted + still buffered."""
        assert self.cloud is not None
        seen = self.cloud.receipts.seen
        res = FleetResult(self.n, duration_s)
        for thing in self.things:
            path = self.out / "devices" / thing / "data" / "log.sqlite"
            if not path.exists():
                continue
            with Log.open(path, device=thing, free_floor_bytes=0) as lg:
                evicted: dict[tuple[str, str], set[int]] = {}
                for e in lg.evictions():
                    evicted.setdefault((e["device"], e["stream"]), set()).update(
                        range(e["first_seq"], e["last_seq"] + 1)
                    )
                held = {(r.device, r.stream, r.seq) for r in lg.snapshot_records()}
                for s in lg.streams():
                    key = (s["device"], s["stream"])
                    for seq in range(1, s["produced"] + 1):
                        ident = (*key, seq)
                        res.produced[s["cls"]] += 1
                        if ident in seen:
                            res.delivered[s["cls"]] += 1
                        elif seq in evicted.get(key, ()):
                            res.evicted[s["cls"]] += 1
                        elif ident in held:
                            res.buffered[s["cls"]] += 1
                        else:
                            res.unaccounted += 1
        res.duplicates_received = self.cloud.receipts.duplicates
        res.rejected = dict(self.cloud.receipts.rejected)
        for a in self.cloud.receipts.alerts:
            state = str(a.payload.get("state", a.payload.get("status", "")))
            if state in ("raise", "raised", "open"):
                res.alerts_raised += 1
            elif state in ("clear", "cleared", "closed"):
                res.alerts_cleared += 1
        res.kills = self.kills
        for dev in self.devices.values():
            for c in dev.components.values():
                res.restarts += max(0, c.starts - 1)
                if c.state == "BROKEN":
                    res.broken.append(f"{dev.thing}/{c.name}")
        (self.out / "summary.json").write_text(json.dumps(res.as_dict(), indent=2))
        return res
