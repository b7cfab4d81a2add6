"""A Greengrass core device's folders and lifecycle steps, the way the classic nucleus lays them
out and runs them, on a root filesystem: an arm64 device image (through chroot, under QEMU
user emulation; scripts/device-image.sh) or this machine (natively). Unlike lifecycle.py (the
fleet's shortcut), Install really runs, as the component user, and so does sudo's handling of
the environment.

- each artifact of the component's manifest unpacked to
  `<gg root>/packages/artifacts-unarchived/<name>/<version>/<zip stem>/`;
- the work folder `<gg root>/work/<name>/`, owned by the component user, the working
  directory of every step;
- steps run as the nucleus runs them: `sudo -n -E -H -u <user> -g <group> -- sh -c <script>`
  (classic nucleus, ShellRunner), or as root for `RequiresPrivilege: true`; recipe variables
  interpolated by edge_sim's own interpolation; Install with no network (`unshare -n`).
Nothing of the checkout is reachable from inside the chroot; natively the environment is
emptied (no PYTHONPATH, no venv of the caller) and the system's python3 runs.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloud.greengrass.build import BuiltComponent
from edge_sim.nucleus.lifecycle import interpolate, lifecycle_step

DEVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def manifest_for(recipe: Mapping[str, Any], arch: str) -> Mapping[str, Any]:
    for manifest in recipe["Manifests"]:
        if (manifest.get("Platform") or {}).get("architecture") == arch:
            return manifest
    raise LookupError(f"{recipe['ComponentName']}: no manifest for {arch}")


def step_script(step: Any) -> str:
    return step if isinstance(step, str) else str(step["Script"])


def privileged(step: Any) -> bool:
    return isinstance(step, Mapping) and bool(step.get("RequiresPrivilege"))


@dataclass
class Prepared:
    """One component laid out on the root, ready for its lifecycle steps."""

    name: str
    manifest: Mapping[str, Any]
    work: str  # path inside the root
    values: dict[str, str]  # recipe variables

    @property
    def lifecycle(self) -> Mapping[str, Any]:
        return self.manifest.get("Lifecycle") or {}

    def setenv(self, config: Mapping[str, Any]) -> dict[str, str]:
        setenv = lifecycle_step(self.lifecycle, "Setenv") or {}
        return {k: interpolate(str(v), self.values, config) for k, v in setenv.items()}


class GreengrassRoot:
    """`fs_root` None: this machine itself (native); else a root filesystem entered by chroot."""

    def __init__(self, fs_root: Path | None, gg_root: str, arch: str, user: str | None) -> None:
        self.fs_root = fs_root
        self.gg_root = gg_root
        self.arch = arch
        self.user = user  # None: the current user (native runs)

    def host(self, path: str) -> Path:
        """Where a path inside the root is on this machine."""
        return Path(path) if self.fs_root is None else self.fs_root / path.lstrip("/")

    def _owner(self) -> tuple[int, int] | None:
        if self.user is None:
            return None
        if self.fs_root is None:
            entry = pwd.getpwnam(self.user)
            return entry.pw_uid, entry.pw_gid
        for line in (self.fs_root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == self.user:
                return int(fields[2]), int(fields[3])
        raise LookupError(f"no user {self.user} in {self.fs_root}")

    def lay_out(self, built: BuiltComponent) -> Prepared:
        manifest = manifest_for(built.recipe, self.arch)
        unarchived = f"{self.gg_root}/packages/artifacts-unarchived/{built.name}/{built.version}"
        for artifact in manifest.get("Artifacts") or []:
            file_name = str(lifecycle_step(artifact, "Uri")).rsplit("/", 1)[1]
            target = self.host(f"{unarchived}/{Path(file_name).stem}")
            target.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(built.artifacts[file_name]) as archive:
                archive.extractall(target)
        work = f"{self.gg_root}/work/{built.name}"
        self.host(work).mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        if owner is not None:
            os.chown(self.host(work), *owner)
        values = {
            "artifacts:decompressedPath": unarchived,
            "artifacts:path": f"{self.gg_root}/packages/artifacts/{built.name}/{built.version}",
            "work:path": work,
            "kernel:rootPath": self.gg_root,
            "iot:thingName": "device-under-test",
        }
        return Prepared(built.name, manifest, work, values)

    def command(
        self,
        prepared: Prepared,
        step: str,
        config: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        network: bool,
    ) -> list[str]:
        """The argv that runs one lifecycle step of `prepared` as the nucleus would."""
        raw = lifecycle_step(prepared.lifecycle, step)
        script = interpolate(step_script(raw), prepared.values, config)
        full_env = {"PATH": DEVICE_PATH, "HOME": "/root", **prepared.setenv(config), **env}
        shell = ["/bin/sh", "-c", f"cd {shlex.quote(prepared.work)} && {script}"]
        if self.user is not None and not privileged(raw):
            group = "ggc_group" if self.user == "ggc_user" else self.user
            shell = ["sudo", "-n", "-E", "-H", "-u", self.user, "-g", group, "--", *shell]
        argv = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in full_env.items()), *shell]
        if self.fs_root is not None:
            argv = ["chroot", str(self.fs_root), *argv]
        return argv if network else ["unshare", "--net", *argv]


def copy_root(image: Path, dest: Path) -> Path:
    """A private copy of the cached image (the tests change it; the cache stays pristine)."""
    subprocess.run(["cp", "-a", "--reflink=auto", str(image), str(dest)], check=True)
    return dest


def remove_root(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start(argv: list[str], log_path: Path, name: str) -> Running:
    out = log_path.open("wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return Running(name, proc, log_path)


def stop(running: Running, timeout_s: float) -> int | None:
    """SIGTERM to the step's process group (how the nucleus stops a component), then SIGKILL."""
    if running.proc.poll() is None:
        os.killpg(running.proc.pid, 15)
        try:
            running.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(running.proc.pid, 9)
            running.proc.wait()
    return running.proc.returncode
