"""The wheels artifact of a component for one platform, so that Install needs no package index.

`wheels-<arch>.zip` (unpacked to {artifacts:decompressedPath}/wheels-<arch>/) holds:
    *.whl              every wheel the component's requirements resolve to on that platform
    requirements.txt   the lock: one `name==version` per wheel, what Install installs
    pip.whl            the pip that Install runs (`python pip.whl/pip install ...`), so the
                       device needs neither pip nor python3-venv's ensurepip
The versions are the ones the build environment holds (the tested ones): every installed
distribution is a constraint, so a transitive dependency cannot drift between builds.
Only binary wheels for CPython DEVICE_PYTHON on manylinux (glibc <= DEVICE_GLIBC) are
accepted: a dependency without one fails the build, never the device.

Resolution needs the package index (or pip's cache) once per set of inputs; the result is kept
in a cache outside the repository (FLOORLINE_WHEEL_CACHE, default
$XDG_CACHE_HOME/floorline/wheels), so later builds are offline.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Final

from cloud.greengrass import layout
from cloud.greengrass.project import ProjectError

# Debian bookworm, the base of 64-bit Raspberry Pi OS: Python 3.11, glibc 2.36.
DEVICE_PYTHON: Final = "3.11"
DEVICE_GLIBC: Final = (2, 36)
# Greengrass platform architecture -> the machine name in wheel platform tags.
MACHINES: Final = {"aarch64": "aarch64", "amd64": "x86_64"}
_LEGACY_MANYLINUX: Final = ("manylinux2014", "manylinux2010", "manylinux1")


class WheelResolutionFailed(ProjectError):
    """pip could not find a binary wheel for every requirement on the device platform."""


def cache_dir() -> Path:
    configured = os.environ.get("FLOORLINE_WHEEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "floorline" / "wheels"


def installer_pin(root: Path) -> str:
    """`pip==X`: [tool.floorline].device-pip in pyproject.toml."""
    path = root / layout.PYPROJECT
    try:
        pin = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["floorline"]["device-pip"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ProjectError(f"{path}: no [tool.floorline] device-pip ({exc})") from exc
    if not str(pin).startswith("pip=="):
        raise ProjectError(f"{path}: device-pip must be an exact pin 'pip==X', not {pin!r}")
    return str(pin)


def platform_tags(arch: str) -> list[str]:
    machine = MACHINES[arch]
    major, newest = DEVICE_GLIBC
    tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(newest, 4, -1)]
    return tags + [f"{legacy}_{machine}" for legacy in _LEGACY_MANYLINUX]


def tested_versions() -> list[str]:
    """`name==version` of every distribution in the build environment but floorline itself."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() != "floorline":
            found[name.lower()] = f"{name}=={dist.version}"
    return sorted(found.values())


def wheel_pin(file_name: str) -> str:
    """`name==version` of a wheel file (PEP 427: name-version[-build]-py-abi-platform.whl)."""
    name, version = file_name.split("-")[:2]
    return f"{name}=={version}"


def _pip_download(args: list[str], dest: Path, arch: str) -> None:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--implementation", "cp",
        "--python-version", DEVICE_PYTHON, "--abi", f"cp{DEVICE_PYTHON.replace('.', '')}",
        *(f"--platform={tag}" for tag in platform_tags(arch)),
        "--dest", str(dest), *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WheelResolutionFailed(
            f"no complete set of cp{DEVICE_PYTHON} {arch} wheels: {done.stderr.strip()[-2000:]}"
        )


def _not_pip(names: list[str]) -> list[str]:
    """The wheels without pip: a requirement on pip (sqlite-utils has one, for its own
    `install` command, which the components never run) is met by the pip the artifact carries
    and that runs the Install, so the lock must not promise a pip inside the venv."""
    return [n for n in names if not n.lower().startswith("pip-")]


def resolve(root: Path, requirements: list[str], arch: str) -> tuple[list[Path], Path]:
    """(the wheels `requirements` resolve to on `arch`, the pip wheel), from the cache when the
    same inputs were resolved before."""
    constraints, installer_req = tested_versions(), installer_pin(root)
    inputs = {
        "requirements": requirements,
        "arch": arch,
        "python": DEVICE_PYTHON,
        "glibc": DEVICE_GLIBC,
        "constraints": constraints,
        "installer": installer_req,
    }
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]
    store = cache_dir() / arch
    lock = store / f"{key}.json"
    if lock.is_file():
        names = json.loads(lock.read_text())
        if all((store / n).is_file() for n in [*names["wheels"], names["installer"]]):
            return [store / n for n in _not_pip(names["wheels"])], store / names["installer"]
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="floorline-wheels-") as tmp:
        work = Path(tmp)
        (work / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (work / "constraints.txt").write_text("\n".join(constraints) + "\n")
        wheels_dir, installer_dir = work / "wheels", work / "installer"
        if requirements:
            _pip_download(
                ["-r", str(work / "requirements.txt"), "-c", str(work / "constraints.txt")],
                wheels_dir,
                arch,
            )
        _pip_download(["--no-deps", installer_req], installer_dir, arch)
        wheels = _not_pip(sorted(p.name for p in wheels_dir.glob("*.whl"))) if requirements else []
        (installer,) = [p.name for p in installer_dir.glob("*.whl")]
        for path in [*wheels_dir.glob("*.whl"), *installer_dir.glob("*.whl")]:
            shutil.move(path, store / path.name)  # same name, same bytes: a race is harmless
    partial = lock.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"wheels": wheels, "installer": installer}) + "\n")
    os.replace(partial, lock)  # a concurrent build sees the whole lock or none
    return [store / n for n in wheels], store / installer


def lock_text(wheels: list[Path]) -> str:
    lines = [
        "# Generated at build time: the wheels of this artifact, one exact pin each.",
        *(wheel_pin(w.name) for w in wheels),
    ]
    return "\n".join(lines) + "\n"


def wheels_contents(root: Path, requirements: list[str], arch: str) -> dict[str, bytes]:
    """Every file of a component's wheels artifact for `arch`, by its path inside the zip."""
    wheels, installer = resolve(root, requirements, arch)
    files = {w.name: w.read_bytes() for w in wheels}
    files[layout.INSTALLER_WHEEL] = installer.read_bytes()
    files[layout.REQUIREMENTS_FILE] = lock_text(wheels).encode("utf-8")
    return dict(sorted(files.items()))
