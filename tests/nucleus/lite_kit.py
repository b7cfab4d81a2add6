"""AWS's real Greengrass nucleus lite 2.6.0 for the real-nucleus tier, through the kit's
lite.sh (`<repo root>/../shared/greengrass-lite`; see its README).

The build is cached outside the repository (`FLOORLINE_LITE_WORKDIR`, default
`~/.cache/floorline/gg-lite`): lite.sh rebuilds only when the sources change. Each `up` starts
fresh daemons (ggconfigd, ggpubsubd, iotcored, ggipcd) and Mosquitto as IoT Core (mutual TLS on
127.0.0.1:8883 for iotcored, plain 1883 for tests) in a private mount and network namespace.
Needs root, unshare and a writable cgroup v2; `skip_reason()` says what is missing.

Outside this workplace the sources are the public aws-greengrass-lite repository at tag
v2.6.0 and the dependencies pinned by its fc_deps.json (the kit's README lists the commits).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KIT = REPO_ROOT.parent / "shared" / "greengrass-lite"
LITE_SH = KIT / "lite.sh"
DEFAULT_WORKDIR = Path.home() / ".cache" / "floorline" / "gg-lite"
THING = "FloorlineLiteThing"
SOURCES_HINT = (
    "nucleus lite sources not found at ../shared/greengrass-lite (lite.sh and "
    "gg-lite-2.6.0-src.tar.gz); get them from "
    "https://github.com/aws-greengrass/aws-greengrass-lite "
    "at tag v2.6.0 with the dependencies its fc_deps.json pins"
)


def skip_reason() -> str | None:
    """Why the tier cannot run here; None when it can. Only absent sources are a reason to
    skip: a machine that has them but cannot run them fails the tier."""
    if not LITE_SH.is_file() or not any(KIT.glob("gg-lite-*-src.tar.gz")):
        return SOURCES_HINT
    return None


def environment_problems() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root (unshare, a bind mount on /run, cgroup directories)")
    for tool in ("unshare", "nsenter", "mosquitto", "cmake", "openssl"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} missing: run scripts/install-system-deps.sh")
    return problems


class LiteNucleus:
    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = Path(workdir or os.environ.get("FLOORLINE_LITE_WORKDIR") or DEFAULT_WORKDIR)
        self.root = self.workdir / "root"
        self.logs = self.workdir / "rt" / "logs"
        self.socket_path = str(self.root / "gg-ipc.socket")

    def _kit(self, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
        # Output to a file, not a pipe: `run-component` leaves a watcher in the background that
        # keeps the script's stdout open for as long as the component runs.
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(
                ["bash", str(LITE_SH), *args],
                env={**os.environ, "LITE_THING": THING, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
            out.seek(0)
            text = out.read()
        if done.returncode != 0:
            raise RuntimeError(f"lite.sh {' '.join(args)}: {text[-3000:]}")
        return text

    def build(self) -> None:
        self._kit("build", str(self.workdir))

    def up(self, services: dict[str, Any], pass_env: dict[str, str] | None = None) -> None:
        """Start the daemons with `services.NAME.configuration` (accessControl included).
        One file per service: ggconfigd reads at most 8192 bytes of each."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        files = []
        for i, (name, body) in enumerate(services.items()):
            path = self.workdir / f"service-{i}.yaml"
            path.write_text(yaml.safe_dump({"services": {name: body}}, sort_keys=False))
            files.append(str(path))
        self.pass_env = dict(pass_env or {})
        self._kit("down", str(self.workdir))
        self._kit("up", str(self.workdir), *files, env=self._env())

    def _env(self) -> dict[str, str]:
        return {**self.pass_env, "LITE_PASS_ENV": " ".join(self.pass_env)}

    def install(
        self, name: str, version: str, recipe: dict[str, Any], artifacts: dict[str, Path]
    ) -> None:
        """Place a recipe and its artifacts where nucleus lite's recipe-runner looks."""
        recipes = self.root / "packages" / "recipes"
        recipes.mkdir(parents=True, exist_ok=True)
        (recipes / f"{name}-{version}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
        target = self.root / "packages" / "artifacts" / name / version
        target.mkdir(parents=True, exist_ok=True)
        for file_name, source in artifacts.items():
            shutil.copy2(source, target / file_name)

    def unpack(self, name: str, version: str, archive: Path) -> None:
        """Unzip an artifact where a deployment would (ggdeploymentd's job; not run here)."""
        target = self.root / "packages" / "artifacts-unarchived" / name / version / archive.stem
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(target)

    def run_component(self, name: str, version: str, phase: str = "run") -> None:
        self._kit("run-component", str(self.workdir), name, version, phase, env=self._env())

    def stop_component(self, name: str) -> None:
        self._kit("stop-component", str(self.workdir), name)

    def component_log(self, name: str, phase: str = "run") -> str:
        path = self.logs / f"{name}.{phase}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def exit_status(self, name: str, phase: str = "run") -> int | None:
        path = self.workdir / "rt" / "comp" / f"{name}.{phase}.rc"
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text else None

    def wait_exit(self, name: str, timeout_s: float, phase: str = "run") -> int | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.exit_status(name, phase)
            if status is not None:
                return status
            time.sleep(0.2)
        return None

    def exec(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(LITE_SH), "exec", str(self.workdir), *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def down(self) -> None:
        self._kit("down", str(self.workdir))
