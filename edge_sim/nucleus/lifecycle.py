"""Running components from their built recipes, as the nucleus does.

Each simulated device has its own root (`<root>/work/<component>`, `<root>/logs`,
`<root>/packages/artifacts-unarchived/...`). A component's artifact zip — the very file that
`python -m cloud.greengrass build` wrote and `publish` uploads — is unpacked, the recipe's
variables are interpolated, `Setenv` and the nucleus's own variables are set, and `Run` is
started as a process whose output goes to `<root>/logs/<component>.log`.

Differences from a device, stated: the recipe's `Install` step (a venv from the wheels the
artifact carries) is replaced by a `venv/bin/python` in the work folder that runs the
interpreter edge_sim itself runs in, which has the same pinned requirements installed; steps
run as the current user, without the classic nucleus's `sudo -E -u`, but with the environment
filtered as sudo filters it (edge_sim/nucleus/sudo_env.py); the one variable the twin then sets
is a PYTHONPATH to its emulated hardware. edge_sim/nucleus/device_root.py runs the real Install,
as the component user, through real sudo (the device tier, tests/device).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_sim.hardware.registration import register_buses
from edge_sim.nucleus.sudo_env import as_sudo_passes_it

log = logging.getLogger("edge_sim.lifecycle")

# Greengrass marks a component BROKEN after this many errors without a stable run.
MAX_QUICK_FAILURES = 3
STABLE_RUN_S = 10.0
SIM_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds edge_sim/
_VAR_RE = re.compile(r"\{(artifacts|work|kernel|iot|configuration):([^}]*)\}")


class UnrunnableRecipe(ValueError):
    """A built recipe this nucleus cannot run here: no manifest for the platform, a variable
    it does not know, no Run step."""


def manifest_for_host(recipe: Mapping[str, Any]) -> Mapping[str, Any]:
    """The recipe manifest that matches this host (linux and its architecture)."""
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "aarch64", "arm64": "aarch64"}.get(machine, machine)
    for m in recipe.get("Manifests") or []:
        plat = m.get("Platform") or {}
        if plat.get("os", "linux") in ("linux", "*") and plat.get("architecture", arch) in (
            arch,
            "*",
        ):
            return m
    raise UnrunnableRecipe(f"{recipe.get('ComponentName')}: no manifest for linux/{arch}")


def interpolate(text: str, values: Mapping[str, str], config: Mapping[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        ns, key = m.group(1), m.group(2)
        if ns == "configuration":
            node: Any = config
            for part in key.strip("/").split("/"):
                node = node.get(part) if isinstance(node, Mapping) else None
            return "" if node is None else str(node)
        try:
            return values[f"{ns}:{key}"]
        except KeyError:
            raise UnrunnableRecipe(f"unknown recipe variable {{{ns}:{key}}}") from None

    return _VAR_RE.sub(sub, text)


def lifecycle_step(lifecycle: Mapping[str, Any], name: str) -> Any:
    """A lifecycle entry in any case, as the classic nucleus reads recipe keys (the build
    holds recipes to nucleus lite's exact spelling: cloud/greengrass/nucleus_check.py)."""
    for key, value in lifecycle.items():
        if str(key).casefold() == name.casefold():
            return value
    return None


def _script(step: Any) -> str | None:
    if step is None:
        return None
    if isinstance(step, str):
        return step
    return step.get("Script")


@dataclass
class Component:
    """One component of one device, started from its built recipe."""

    name: str
    recipe: Mapping[str, Any]
    artifact_zip: Path | None
    device_root: Path
    thing: str
    env: dict[str, str]
    config: Mapping[str, Any]
    proc: subprocess.Popen[bytes] | None = None
    state: str = "NEW"
    starts: int = 0
    kills: int = 0
    crashes: int = 0
    quick_failures: int = 0
    _started_at: float = 0.0
    _log_file: Any = field(default=None, repr=False)

    @property
    def work(self) -> Path:
        return self.device_root / "work" / self.name

    def install(self) -> None:
        manifest = manifest_for_host(self.recipe)
        version = str(self.recipe.get("ComponentVersion"))
        unpacked = self.device_root / "packages" / "artifacts-unarchived" / self.name / version
        if self.artifact_zip is not None:
            # Greengrass unpacks a zip artifact into a folder named after the zip.
            target = unpacked / self.artifact_zip.stem
            if not target.exists():
                target.mkdir(parents=True)
                with zipfile.ZipFile(self.artifact_zip) as z:
                    z.extractall(target)
        self.work.mkdir(parents=True, exist_ok=True)
        venv_python = self.work / "venv" / "bin" / "python"
        venv_python.parent.mkdir(parents=True, exist_ok=True)
        venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        venv_python.chmod(0o755)
        values = {
            "artifacts:decompressedPath": str(unpacked),
            "artifacts:path": str(self.device_root / "packages" / "artifacts" / self.name),
            "work:path": str(self.work),
            "kernel:rootPath": str(self.device_root),
            "iot:thingName": self.thing,
        }
        lifecycle = manifest.get("Lifecycle") or {}
        setenv = lifecycle_step(lifecycle, "Setenv") or {}
        for key, value in setenv.items():
            self.env[key] = interpolate(str(value), values, self.config)
        # As sudo -E passes it: no PYTHONPATH of the caller or of Setenv reaches the step.
        self.env = as_sudo_passes_it(self.env)
        # The one path the twin adds (a device has no emulated hardware): edge_sim's own
        # folder, *after* the artifact's (the step's `cd` puts it first), so every
        # `components` module still comes from the artifact (a regular package is never
        # merged with a second copy). Its bus registration comes as a dist-info of its own:
        # the artifact's floorline dist-info, first on the path, hides the installed
        # floorline's entry points.
        registry = self.work / "emulated-buses"
        registry.mkdir(exist_ok=True)
        register_buses(registry)
        self.env["PYTHONPATH"] = os.pathsep.join([str(SIM_ROOT), str(registry)])
        run = _script(lifecycle_step(lifecycle, "run"))
        if run is None:
            raise UnrunnableRecipe(f"{self.name}: no Run step")
        self._run = interpolate(run, values, self.config)
        self.state = "INSTALLED"

    def start(self) -> None:
        logs = self.device_root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if self._log_file is None:
            self._log_file = open(logs / f"{self.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", self._run],
            cwd=self.work,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        self._started_at = time.monotonic()
        self.state = "RUNNING"

    def supervise(self) -> None:
        """Restart a component that died, as the nucleus does; BROKEN after repeated
        failures that never reached a stable run."""
        if self.proc is None or self.state != "RUNNING" or self.proc.poll() is None:
            return
        code = self.proc.returncode
        quick = time.monotonic() - self._started_at < STABLE_RUN_S
        self.quick_failures = self.quick_failures + 1 if quick else 0
        self.crashes += 1
        log.info(
            "event=component_exited thing=%s component=%s code=%s", self.thing, self.name, code
        )
        if self.quick_failures >= MAX_QUICK_FAILURES:
            self.state = "BROKEN"
            log.error("event=component_broken thing=%s component=%s", self.thing, self.name)
            return
        self.start()

    def kill(self) -> None:
        """SIGKILL (a chaos fault); the supervisor restarts it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1
            self.quick_failures = -1  # a kill is not the component's failure

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_all([self], timeout_s)

    def terminate(self) -> None:
        """SIGTERM without waiting; the supervisor leaves a stopping component alone."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.state = "STOPPING"

    def wait_stopped(self, timeout_s: float = 10.0) -> None:
        """After `terminate`: its exit, or SIGKILL once `timeout_s` is over."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.state = "FINISHED"
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def stop_all(components: Iterable[Component], timeout_s: float = 10.0) -> None:
    """Stop components together: all are told first, then each is waited for (a fleet's
    hundreds of components flush and exit in parallel, not one after another)."""
    chosen = list(components)
    for c in chosen:
        c.terminate()
    deadline = time.monotonic() + timeout_s  # one grace period for all of them
    for c in chosen:
        c.wait_stopped(max(0.0, deadline - time.monotonic()))
