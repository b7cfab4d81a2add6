"""64-bit Raspberry Pi OS's base (Debian bookworm arm64) under QEMU: nothing prepared by hand.

On the bare root (python3, sudo, the Pi OS groups and the installer's ggc_user, nothing else),
the deployment's own steps in order: DevicePrep as root, every Install with no network, then
every Run from `{work:path}` against edge_sim's nucleus through a socket inside the root.
"""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.greengrass.build import BuiltComponent
from edge_sim.device_run import (
    PREP,
    SuiteRun,
    deployment,
    emulated_hardware,
    install,
    run_until_main_loop,
    summary,
)
from edge_sim.nucleus.device_root import GreengrassRoot, Prepared, copy_root, remove_root

pytestmark = [pytest.mark.device, pytest.mark.slow]

GG_ROOT = "/greengrass/v2"
LOG_PATH = "/var/lib/floorline/log.sqlite"
SOCKET = f"{GG_ROOT}/ipc.socket"
HW = "/opt/floorline-emulated-hardware"
INSTALL_TIMEOUT_S = 900  # the recipes' Install Timeout
RUN_DEADLINE_S = 300  # emulation on a shared 2-core machine: slow, not wrong


def groups_of(root: Path, user: str) -> set[str]:
    found = set()
    for line in (root / "etc/group").read_text().splitlines():
        name, _, _, members = line.split(":")
        if user in members.split(","):
            found.add(name)
    return found


@pytest.fixture(scope="module")
def device(device_image: Path, short_tmp: Path) -> Iterator[GreengrassRoot]:
    root = copy_root(device_image, short_tmp / "root")
    yield GreengrassRoot(root, GG_ROOT, "aarch64", "ggc_user")
    remove_root(root)


@pytest.fixture(scope="module")
def prepared(device: GreengrassRoot, built: dict[str, BuiltComponent]) -> dict[str, Prepared]:
    return {name: device.lay_out(b) for name, b in built.items()}


@pytest.fixture(scope="module")
def configs(built: dict[str, BuiltComponent]) -> dict[str, dict]:
    return deployment(built, LOG_PATH)


def test_the_root_is_bare(device: GreengrassRoot) -> None:
    root = device.fs_root
    assert root is not None
    assert groups_of(root, "ggc_user") & {"i2c", "gpio", "dialout"} == set()
    assert not (root / "var/lib/floorline").exists()
    assert not list(root.glob("usr/lib/python3*/ensurepip"))  # no python3-venv
    assert not (root / "usr/bin/pip3").exists()


def test_device_prep_prepares_the_device_as_root(
    device: GreengrassRoot, prepared: dict[str, Prepared], configs: dict[str, dict]
) -> None:
    root = device.fs_root
    assert root is not None
    result = install(device, prepared[PREP], configs[PREP], INSTALL_TIMEOUT_S)
    assert result.returncode == 0, result.output
    argv = device.command(prepared[PREP], "Run", configs[PREP], {}, network=False)
    first = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert {"i2c", "gpio", "dialout"} <= groups_of(root, "ggc_user")
    folder = root / "var/lib/floorline"
    st = folder.stat()
    owner = [ln.split(":") for ln in (root / "etc/passwd").read_text().splitlines()]
    uid, gid = next((int(f[2]), int(f[3])) for f in owner if f[0] == "ggc_user")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o750)
    assert "changed=True" in first.stdout
    # Idempotent: the next deployment changes nothing.
    groups_before = (root / "etc/group").read_bytes()
    second = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "changed=False" in second.stdout, second.stdout
    assert (root / "etc/group").read_bytes() == groups_before


@pytest.fixture(scope="module")
def installs(
    device: GreengrassRoot, prepared: dict[str, Prepared], configs: dict[str, dict]
) -> dict:
    return {
        name: install(device, p, configs[name], INSTALL_TIMEOUT_S)
        for name, p in prepared.items()
        if name != PREP
    }


def test_every_install_is_offline_and_installs_the_lock(
    device: GreengrassRoot, prepared: dict[str, Prepared], installs: dict
) -> None:
    root = device.fs_root
    assert root is not None
    for name, result in installs.items():
        assert result.returncode == 0, f"{name}: {result.output[-3000:]}"
        work = root / prepared[name].work.lstrip("/")
        site = next(work.glob("venv/lib/python3*/site-packages"))
        installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
        lock_file = next(
            (root / prepared[name].values["artifacts:decompressedPath"].lstrip("/")).glob(
                "wheels-aarch64/requirements.txt"
            )
        )
        locked = {
            line.split("==")[0].lower().replace("-", "_")
            for line in lock_file.read_text().splitlines()
            if line and not line.startswith("#")
        }
        assert locked and locked <= installed, (name, locked - installed)
        assert not (work / "venv/bin/pip").exists()  # --without-pip: pip came from the artifact
        assert work.stat().st_uid != 0  # installed as the component user


def test_every_component_reaches_its_main_loop(
    device: GreengrassRoot,
    prepared: dict[str, Prepared],
    configs: dict[str, dict],
    installs: dict,
    short_tmp: Path,
) -> None:
    assert all(r.returncode == 0 for r in installs.values())
    root = device.fs_root
    assert root is not None and (root / "var/lib/floorline").is_dir()  # DevicePrep ran first
    components = {n: p for n, p in prepared.items() if n != PREP}
    venvs = [root / p.work.lstrip("/") / "venv" for p in components.values()]
    extra = emulated_hardware(root / HW.lstrip("/"), HW, venvs)
    logs = short_tmp / "arm64-logs"
    logs.mkdir()
    run: SuiteRun = run_until_main_loop(
        device, components, configs, SOCKET, extra, logs, RUN_DEADLINE_S
    )
    assert set(run.started_s) == set(components), summary(run)
    assert all(run.alive.values()), summary(run)
    assert run.http_status is not None
