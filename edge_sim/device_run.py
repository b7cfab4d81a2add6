"""Every floorline component of one device from its built artifacts: offline Install, then Run
against edge_sim's nucleus and Stream Manager, until each proves it reached its main loop.
Used by the device tier (tests/device) and the footprint benchmark (bench/footprint.py).

"Reached its main loop" is proven twice for each component, by records it cannot make
before: the nucleus holds the state RUNNING the component reported over IPC (UpdateState,
sent right before its loop) and its output holds the line it prints once on entering the
loop (`event=started`). HttpIngest reports no state: its proof is its `listening port=N`
line and an HTTP answer from that port. Each process must still be alive at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud import import_graph
from cloud.greengrass import layout
from cloud.greengrass import recipe as gg_recipe
from cloud.greengrass.build import BuiltComponent
from edge_sim.hardware.registration import register_buses
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.device_root import GreengrassRoot, Prepared, Running, start, stop
from edge_sim.nucleus.ipc_server import NucleusServer
from edge_sim.ports import free_port
from edge_sim.stream_manager import StreamManagerServer

THING = "device-under-test"
PREP = "com.floorline.DevicePrep"
HTTP_INGEST = "com.floorline.HttpIngest"
# The emulated board: a BME280 where the default configuration expects one.
SCENARIO = {"seed": 1, "chips": [{"chip": "bme280", "address": "0x76"}]}
_LISTENING = re.compile(r"listening port=(\d+)")


def emulated_hardware(host_folder: Path, folder: str, venvs: list[Path]) -> dict[str, str]:
    """Puts edge_sim's chip models (only them: no `components`) and the scenario in
    `host_folder`, as edge_sim provides them to the components it runs: the device has no I2C
    adapter, no GPIO chip, no serial port. Each venv (`venvs`, on this machine) finds them
    through a .pth file, after the code's folder, so every `components` module stays the
    artifact's. Returns the environment that selects them; `folder` is `host_folder` as the
    component sees it."""
    found = import_graph.closure(
        layout.REPO_ROOT, ["edge_sim.hardware.bus", "edge_sim.world.scenario"], ("edge_sim",)
    )
    for path in found.modules.values():
        target = host_folder / path.relative_to(layout.REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (host_folder / "scenario.json").write_text(json.dumps(SCENARIO))
    for venv in venvs:
        for site in venv.glob("lib/python3*/site-packages"):
            (site / "floorline-emulated-hardware.pth").write_text(folder + "\n")
            register_buses(site)
    return {
        "FLOORLINE_I2C_BUS": "sim",
        "FLOORLINE_SIM_SCENARIO": f"{folder}/scenario.json",
        "GPIOZERO_PIN_FACTORY": "mock",
    }


@dataclass
class InstallResult:
    returncode: int
    seconds: float
    output: str


@dataclass
class SuiteRun:
    installs: dict[str, InstallResult] = field(default_factory=dict)
    started_s: dict[str, float] = field(default_factory=dict)  # name -> seconds to main loop
    states: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    alive: dict[str, bool] = field(default_factory=dict)
    http_status: int | None = None


def deployment(built: Mapping[str, BuiltComponent], log_path: str) -> dict[str, dict[str, Any]]:
    """Each component's configuration: its recipe's defaults (the default site), with the
    log where the device keeps it and free TCP ports (other test runs share this machine)."""
    configs = {}
    for name, b in built.items():
        config = gg_recipe.default_configuration(b.recipe)
        if "logPath" in config:
            config["logPath"] = log_path
        if name in (HTTP_INGEST, "com.floorline.Console"):
            config["port"] = free_port()
        configs[name] = config
    return configs


def install(
    groot: GreengrassRoot, prepared: Prepared, config: Mapping[str, Any], timeout_s: float
) -> InstallResult:
    argv = groot.command(prepared, "Install", config, {}, network=False)
    t0 = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    return InstallResult(done.returncode, time.monotonic() - t0, done.stdout + done.stderr)


def run_until_main_loop(
    groot: GreengrassRoot,
    prepared: Mapping[str, Prepared],
    configs: Mapping[str, Mapping[str, Any]],
    socket_path: str,
    extra_env: Mapping[str, str],
    logs: Path,
    deadline_s: float,
    while_running: Callable[[Mapping[str, Running]], None] | None = None,
) -> SuiteRun:
    """Starts every prepared component's Run at once, as the nucleus starts a deployment;
    once all reached their main loop, `while_running` (a measurement) sees the processes."""
    result = SuiteRun()
    tokens = {name: secrets.token_hex(16) for name in prepared}
    store = ConfigStore()
    for name, config in configs.items():
        if name in prepared:
            store.set_component(name, dict(config))
    acl = {n: (tokens[n], configs[n].get("accessControl")) for n in prepared}
    host_socket = str(groot.host(socket_path))
    nucleus = NucleusServer(host_socket, components=acl, config_store=store, thing_name=THING)
    sm = StreamManagerServer(logs / "stream_manager", auth_tokens=set(tokens.values()))
    running: dict[str, Running] = {}
    try:
        sm.start()
        nucleus.start()
        os.chmod(host_socket, 0o666)  # the component user connects to it
        for name, p in prepared.items():
            env = {
                "SVCUID": tokens[name],
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": tokens[name],
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": socket_path,
                "AWS_IOT_THING_NAME": THING,
                "AWS_REGION": "eu-west-1",
                "AWS_DEFAULT_REGION": "eu-west-1",
                "STREAM_MANAGER_SERVER_PORT": str(sm.port),
                **extra_env,
            }
            argv = groot.command(p, "Run", configs[name], env, network=True)
            running[name] = start(argv, logs / f"{name}.log", name)
        t0 = time.monotonic()
        waiting = set(running)
        while waiting and time.monotonic() - t0 < deadline_s:
            states = nucleus.component_states
            for name in sorted(waiting):
                out = running[name].output()
                if name == HTTP_INGEST:
                    match = _LISTENING.search(out)
                    if match:
                        result.http_status = _http_status(int(match.group(1)))
                        reached = result.http_status is not None
                    else:
                        reached = False
                else:
                    reached = states.get(name) == "RUNNING" and "event=started" in out
                if reached:
                    result.started_s[name] = time.monotonic() - t0
                    waiting.discard(name)
                elif running[name].proc.poll() is not None:
                    waiting.discard(name)  # exited before its main loop: reported below
            time.sleep(0.5)
        time.sleep(2.0)  # still alive a moment after reaching the loop
        if while_running is not None and not waiting:
            while_running(running)
        result.states = nucleus.component_states
        result.alive = {n: r.proc.poll() is None for n, r in running.items()}
    finally:
        for r in running.values():
            stop(r, 20.0)
        nucleus.stop()
        sm.stop()
    result.outputs = {n: r.output() for n, r in running.items()}
    return result


def _http_status(port: int) -> int | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def summary(run: SuiteRun) -> str:
    """What a failing assertion shows: each component's state and the end of its output."""
    return json.dumps(
        {n: {"state": run.states.get(n), "tail": o[-1500:]} for n, o in run.outputs.items()},
        indent=1,
    )
