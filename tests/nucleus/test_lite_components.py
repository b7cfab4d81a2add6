"""floorline's six components under AWS's real nucleus lite: built by `python -m
cloud.greengrass build`, installed and started by lite's recipe-runner from the built recipes
and artifacts (their own install step makes each venv), Mosquitto with mutual TLS as IoT Core
(iotcored connects to it), edge_sim's emulated chips and RFID readers as the hardware.

Proves: every IPC call each component makes is authorized by its own recipe (no refusal in
any log, nor in ggipcd's); readings reach the broker and the local lake exactly once (by
identity); a malformed command is answered. Prints the footprint of nucleus lite's daemons
next to floorline's processes (resident memory, from /proc)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lite_kit import THING, LiteNucleus

from cloud.greengrass import build as gg_build
from cloud.greengrass import layout
from cloud.greengrass.profiles import PROFILES, UPLINK, uplink_settings
from cloud.lake.store import Lake
from components.core import batch, topics
from components.core.clock import SystemClock
from components.core.log import Log
from edge_sim.fleet_site import CHIPS, device_world
from edge_sim.hardware.readers import start_readers
from edge_sim.hardware.registration import register_buses

pytestmark = [pytest.mark.nucleus, pytest.mark.slow, pytest.mark.timeout(900)]

SITE = "lite-site"
TAP = Path(__file__).with_name("broker_tap.py")
RUN_S = 40.0
DAEMONS = ("ggconfigd", "ggpubsubd", "iotcored", "ggipcd", "mosquitto")
REFUSALS = ("UnauthorizedError", "not authorized", "IPC Operation not authorized")


def _configuration(name: str, built: Any, data: Path, ports: dict[str, str]) -> dict[str, Any]:
    """What a deployment gives each component here (as the fleet runner does), plus its
    recipe's accessControl: nucleus lite reads access rights from the configuration."""
    defaults = (built.recipe.get("ComponentConfiguration") or {}).get("DefaultConfiguration")
    cfg: dict[str, Any] = {"accessControl": defaults.get("accessControl") or {}}
    common = {
        "siteId": SITE,
        "logPath": str(data / "log.sqlite"),
        "freeDiskFloorBytes": 0,
        "pipIndexOptions": defaults.get("pipIndexOptions"),
    }
    cfg |= {k: v for k, v in common.items() if k in defaults}
    key = name.removeprefix(layout.NAME_PREFIX)
    if key == "Sensors":
        cfg["chips"] = [{"driver": c["driver"], "address": c["address"]} for c in CHIPS]
    if key == "Rfid":
        cfg["readers"] = [{"model": "rdm6300", "port": ports["dock"]}]
    if key in ("HttpIngest", "Console"):
        cfg |= {"port": 0, "bindAddress": "127.0.0.1"}
    if name == UPLINK:
        settled = uplink_settings(PROFILES["lite"], {**defaults, **cfg})
        cfg |= {k: settled[k] for k in ("useKinesis", "iotMaxMessageBytes")}
        cfg |= {"batchMaxDelaySeconds": 1.0, "shadowIntervalSeconds": 5.0}
    return cfg


def _site_packages(lite: LiteNucleus, name: str) -> Path:
    found = sorted((lite.root / "work" / name / "venv" / "lib").glob("python3*/site-packages"))
    assert found, f"{name}: its install step made no venv"
    return found[0]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _footprint(lite: LiteNucleus, names: list[str]) -> dict[str, int]:
    """Resident KiB of each nucleus lite daemon (the processes in the kit's mount namespace)
    and of each floorline component (the processes in its ggl.NAME.service cgroup)."""
    namespace = (lite.workdir / "rt" / "ns.id").read_text().strip()
    out: dict[str, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            exe = Path((proc / "cmdline").read_bytes().split(b"\0")[0].decode()).name
            cgroup = (proc / "cgroup").read_text()
            mount_ns = os.readlink(proc / "ns" / "mnt")
        except (OSError, UnicodeDecodeError, IndexError):
            continue
        label = next((n for n in names if f"/ggl.{n}.service" in cgroup), None)
        if label is None and mount_ns == namespace and exe in DAEMONS:
            label = exe
        if label is not None:
            out[label] = out.get(label, 0) + _rss_kib(int(proc.name))
    return out


class BrokerTap:
    """Every message the broker sees (plain listener, inside lite's namespace)."""

    def __init__(self, lite: LiteNucleus) -> None:
        self.proc = subprocess.Popen(
            ["bash", str(lite_kit_script()), "exec", str(lite.workdir), sys.executable, str(TAP)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.messages: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(20), "the broker tap did not connect"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            item = json.loads(line)
            if item.get("ready"):
                self.ready.set()
            else:
                self.messages.append((item["topic"], base64.b64decode(item["payload"])))

    def on(self, suffix: str) -> list[bytes]:
        return [p for t, p in list(self.messages) if t.endswith(suffix)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def lite_kit_script() -> Path:
    from lite_kit import LITE_SH

    return LITE_SH


@dataclass
class LiteRun:
    built: dict[str, Any]
    logs: dict[str, str]
    ipcd_log: str
    exit_status: dict[str, int | None]  # None: still running when stopped
    messages: list[tuple[str, bytes]]
    log_stats: dict[str, Any]
    footprint_kib: dict[str, int]
    lake_dir: Path


@pytest.fixture(scope="module")
def lite_run(lite_build: LiteNucleus, tmp_path_factory: pytest.TempPathFactory) -> LiteRun:
    lite = lite_build
    tmp_path = tmp_path_factory.mktemp("lite-floorline")
    build_dir = tmp_path / "greengrass-build"
    gg_build.build(out=build_dir)
    # DevicePrep is left out: it changes users and groups, of this host here (the device tier
    # proves it on an arm64 root); everything runs as root under the kit anyway.
    built = {
        n: b
        for n, b in gg_build.load_build(build_dir).items()
        if b.artifact_zip and n != f"{layout.NAME_PREFIX}DevicePrep"
    }
    assert len(built) == 6
    data = lite.workdir / "data"
    subprocess.run(["rm", "-rf", str(data)], check=True)
    data.mkdir(parents=True)
    world = device_world(11, anomaly_at_s=None)
    (data / "world.json").write_text(json.dumps(world))
    readers = start_readers(world)
    ports = {name: r.path for name, r in readers.items()}
    tap: BrokerTap | None = None
    try:
        services = {
            name: {"version": b.version, "configuration": _configuration(name, b, data, ports)}
            for name, b in built.items()
        }
        lite.up(
            services,
            pass_env={
                "FLOORLINE_I2C_BUS": "sim",
                "FLOORLINE_SIM_SCENARIO": str(data / "world.json"),
                "GPIOZERO_PIN_FACTORY": "mock",
            },
        )
        for name, b in built.items():
            lite.install(name, b.version, b.recipe, b.artifacts)
            for archive in b.artifacts.values():
                lite.unpack(name, b.version, archive)
        # Each install step makes its venv from the wheels its artifact carries (offline:
        # pipIndexOptions), two at a time.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda n: lite.run_component(n, built[n].version, "install"), built))
        for name in built:
            # The emulated hardware (edge_sim.hardware) after the artifact, as edge_sim's own
            # devices have it; every `components` module still comes from the artifact.
            site = _site_packages(lite, name)
            (site / "floorline-sim.pth").write_text(str(layout.REPO_ROOT) + "\n")
            register_buses(site)
        tap = BrokerTap(lite)
        for name, b in built.items():
            lite.run_component(name, b.version)
        time.sleep(RUN_S)
        # A malformed command: answered on .../reply, and the uplink goes on.
        lite.exec(
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            "1883",
            "-t",
            topics.command_topic(SITE, THING),
            "-m",
            "{not json",
        )
        deadline = time.monotonic() + 20
        while not tap.on("/" + topics.REPLY) and time.monotonic() < deadline:
            time.sleep(0.2)
        footprint = _footprint(lite, list(built))
        status = {n: lite.exit_status(n) for n in built}
        for name in built:
            lite.stop_component(name)
    finally:
        if tap is not None:
            tap.stop()
        for reader in readers.values():
            reader.stop()
        lite.down()
    with Log.open(data / "log.sqlite", device=THING) as log:
        log_stats = log.stats()
    run = LiteRun(
        built=built,
        logs={n: lite.component_log(n) for n in built},
        ipcd_log=(lite.logs / "ggipcd.log").read_text(errors="replace"),
        exit_status=status,
        messages=list(tap.messages),
        log_stats=log_stats,
        footprint_kib=footprint,
        lake_dir=tmp_path / "lake",
    )
    print("\nfootprint under nucleus lite (resident KiB):", json.dumps(footprint, indent=1))
    return run


COMPONENTS = ("Sensors", "Rfid", "Analytics", "Uplink", "HttpIngest", "Console")


@pytest.mark.parametrize(
    "key",
    COMPONENTS,
)
def test_each_component_runs_until_stopped(lite_run: LiteRun, key: str) -> None:
    name = layout.NAME_PREFIX + key
    assert lite_run.exit_status[name] is None, lite_run.logs[name][-3000:]


def test_every_ipc_call_is_authorized_by_the_components_own_recipe(lite_run: LiteRun) -> None:
    refused = {n: [r for r in REFUSALS if r in text] for n, text in lite_run.logs.items()}
    assert refused == {n: [] for n in lite_run.built}, refused
    assert "IPC Operation not authorized" not in lite_run.ipcd_log
    # The calls were made: live values, configuration, IoT Core and the shadow topics.
    uplink = lite_run.logs[UPLINK]
    assert "event=started" in uplink and "kinesis=False" in uplink
    assert any(t.endswith("/shadow/name/floorline/update") for t, _ in lite_run.messages)


def test_a_malformed_command_is_answered(lite_run: LiteRun) -> None:
    replies = [json.loads(p) for t, p in lite_run.messages if t.endswith("/" + topics.REPLY)]
    assert replies and replies[0]["ok"] is False and "JSON" in replies[0]["error"], replies


def test_readings_reach_the_broker_and_the_lake_exactly_once(lite_run: LiteRun) -> None:
    deliveries = [
        p
        for t, p in lite_run.messages
        if t.startswith(f"{topics.ROOT}/{SITE}/") and batch.is_batch(p)
    ]
    records = [r for p in deliveries for r in batch.decode(p)[1]]
    identities = [r.identity for r in records]
    assert len(identities) > 100
    assert len(identities) == len(set(identities)), "a record reached the broker twice"
    # Raw readings too (no Stream Manager on lite: they go to IoT Core in batches).
    assert any(t.endswith("/" + topics.RAW) for t, _ in lite_run.messages)
    with Lake(lite_run.lake_dir, clock=SystemClock()) as lake:
        first = lake.ingest(deliveries)
        again = lake.ingest(deliveries)
    kinds: dict[str, int] = {}
    for t, p in lite_run.messages:
        if t.startswith(f"{topics.ROOT}/{SITE}/") and batch.is_batch(p):
            kinds[t.rsplit("/", 1)[1]] = kinds.get(t.rsplit("/", 1)[1], 0) + len(batch.decode(p)[1])
    print(f"\nrecords at the broker by topic kind: {kinds}; lake: {first}")
    assert first.quarantined == 0 and first.duplicates == 0
    assert first.records == len(identities)
    assert again.duplicates == len(identities) and again.rows_written == 0
