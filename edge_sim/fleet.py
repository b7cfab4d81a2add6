"""A simulated fleet: a broker (the local IoT Core), devices, faults, and the reckoning.
This module runs them; what every device is lives in `fleet_site.py`, the faults a run
injects in `fleet_faults.py` (read and checked) and `fleet_injection.py` (applied and
undone), and the accounting of the records in `fleet_reckoning.py`.

    python -m edge_sim run --devices 3 --duration 120 --out DIR [--seed S] [--scenario FILE]

Components are deployed from `greengrass-build/` (built first if missing or stale), so what
runs here is byte for byte what `python -m cloud.greengrass publish` uploads.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cloud.greengrass.profiles import PROFILES, uplink_settings
from components.core.clock import UNSYNCED_UNTIL_ENV
from components.core.log import Log
from edge_sim.cloud_side import CloudSide
from edge_sim.fleet_faults import ScheduledFault
from edge_sim.fleet_injection import FaultInjector
from edge_sim.fleet_reckoning import FleetResult, reckon
from edge_sim.fleet_site import (
    ANALYTICS,
    ANALYTICS_DETECTORS,
    BATTERY_LIFE_S,
    CHIPS,
    CONSOLE,
    HTTP_INGEST,
    RFID,
    SENSORS,
    UPLINK,
    device_world,
    short_name,
)
from edge_sim.nucleus.access import CLASSIC
from edge_sim.nucleus.lifecycle import stop_all

log = logging.getLogger("edge_sim.fleet")


class Fleet:
    def __init__(
        self,
        out: Path,
        devices: int,
        *,
        seed: int = 1,
        faults: list[ScheduledFault] | None = None,
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
        self.anomaly_at_s = anomaly_at_s
        self.chip_faults = chip_faults or {}
        self.unsynced_s = unsynced_s or {}
        self.data_disk_bytes = data_disk_bytes
        self.lake_buffer_s = lake_buffer_s
        self.battery_life_s = battery_life_s
        self._mounts: list[Path] = []
        self._readers: list[Any] = []
        self._device_readers: dict[str, list[Any]] = {}
        self._injector: FaultInjector | None = None
        self._cloud_conns: list[Any] = []  # each device's MQTT connection, closed at stop
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
        sink = LocalDirKinesis(kinesis_root)
        self._injector = FaultInjector(
            self.out, self.things, self.devices, self._device_readers, self.broker, sink, self.rng
        )
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
            world = device_world(
                self.rng.randrange(1 << 30),
                self.anomaly_at_s if i == 0 else None,
                self._chip_faults(thing),
                round(self.rng.uniform(25, 100), 1),
                self.battery_life_s,
            )
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
                    {
                        "kind": "unplugged",
                        "startSeconds": f.at_s,
                        "endSeconds": f.at_s + f.duration_s if f.duration_s else None,
                    }
                )
        return out

    def console_config_path(self, thing: str) -> Path:
        return self.out / "devices" / thing / "console.json"

    def console_command(self, thing: str) -> str:
        """The `floorline` line a technician types for this simulated device."""
        return f"floorline --config {self.console_config_path(thing)} --device {thing} status"

    def _write_console_config(
        self, thing: str, dev: Any, built: Mapping[str, Any], ports: Mapping[str, str]
    ) -> None:
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
        injector = self._injector
        assert injector is not None, "start() first"
        pending = list(self.faults)
        undo: list[tuple[float, Callable[[], None]]] = []
        try:
            while (elapsed := time.monotonic() - t0) < duration_s:
                self.ran_s = elapsed
                while pending and pending[0].at_s <= elapsed:
                    fault = pending.pop(0)
                    undo += [(elapsed + fault.duration_s, u) for u in injector.apply(fault)]
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
        """The reckoning (fleet_reckoning.py) with what the run did to the devices; written
        to `summary.json` too."""
        assert self.cloud is not None
        logs = {t: self.out / "devices" / t / "data" / "log.sqlite" for t in self.things}
        res = reckon(self.cloud.lake, logs, duration_s)
        if self._injector is not None:
            res.kills = self._injector.kills
            res.faults = list(self._injector.happened)
        for dev in self.devices.values():
            for c in dev.components.values():
                res.restarts += max(0, c.starts - 1)
                if c.state == "BROKEN":
                    res.broken.append(f"{dev.thing}/{c.name}")
        (self.out / "summary.json").write_text(json.dumps(res.as_dict(), indent=2))
        return res
