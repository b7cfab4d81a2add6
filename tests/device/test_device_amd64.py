"""The amd64 manifest natively (this machine: Debian bookworm's own python3, nothing of the
tests' venv): every Install offline, every Run module imported from its zip in isolation, every
Run reaching its main loop against edge_sim's nucleus.

Natively the steps run as the current user (DevicePrep is not run: it would change this
machine's groups; it is proven on the arm64 root) and the log lives in a temporary folder.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.greengrass import layout
from cloud.greengrass import recipe as gg_recipe
from cloud.greengrass.build import BuiltComponent
from edge_sim import device_run
from edge_sim.nucleus.device_root import GreengrassRoot, Prepared

pytestmark = [pytest.mark.device, pytest.mark.slow]

INSTALL_TIMEOUT_S = 900
RUN_DEADLINE_S = 120


@pytest.fixture(scope="module")
def native(short_tmp: Path) -> Iterator[GreengrassRoot]:
    if not Path("/usr/bin/python3").exists():
        pytest.fail("the amd64 check needs the distribution's python3 at /usr/bin/python3")
    yield GreengrassRoot(None, str(short_tmp / "gg"), "amd64", None)


@pytest.fixture(scope="module")
def prepared(native: GreengrassRoot, built: dict[str, BuiltComponent]) -> dict[str, Prepared]:
    return {name: native.lay_out(b) for name, b in built.items() if name != device_run.PREP}


@pytest.fixture(scope="module")
def configs(built: dict[str, BuiltComponent], short_tmp: Path) -> dict[str, dict]:
    (short_tmp / "data").mkdir()
    return device_run.deployment(built, str(short_tmp / "data" / "log.sqlite"))


@pytest.fixture(scope="module")
def installs(native: GreengrassRoot, prepared: dict[str, Prepared], configs: dict) -> dict:
    return {
        n: device_run.install(native, p, configs[n], INSTALL_TIMEOUT_S) for n, p in prepared.items()
    }


def test_every_install_is_offline(installs: dict) -> None:
    for name, result in installs.items():
        assert result.returncode == 0, f"{name}: {result.output[-3000:]}"


def test_every_run_module_imports_from_its_zip_alone(
    native: GreengrassRoot, prepared: dict[str, Prepared], installs: dict
) -> None:
    """`python -I`: no PYTHONPATH, no user site, no current folder; sys.path is the standard
    library, the component's venv and its unpacked code zip, nothing else."""
    for name, p in prepared.items():
        assert installs[name].returncode == 0
        code = f"{p.values['artifacts:decompressedPath']}/{layout.ARTIFACT_ROOT}"
        package = p.lifecycle[gg_recipe.RUN]["Script"].split(" -m ", 1)[1].split()[0]
        probe = (
            f"import sys; sys.path.insert(0, {code!r}); import {package}.__main__ as m; "
            "import components; print(components.__file__); print(m.__file__)"
        )
        venv_python = f"{p.work}/venv/bin/python"
        done = subprocess.run(
            [venv_python, "-I", "-c", probe], capture_output=True, text=True, cwd=p.work
        )
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        assert all(line.startswith(code + "/") for line in done.stdout.split()), done.stdout


def test_every_component_reaches_its_main_loop(
    native: GreengrassRoot,
    prepared: dict[str, Prepared],
    configs: dict,
    installs: dict,
    short_tmp: Path,
) -> None:
    assert all(r.returncode == 0 for r in installs.values())
    logs = short_tmp / "amd64-logs"
    logs.mkdir()
    hardware = short_tmp / "hw"
    venvs = [Path(p.work) / "venv" for p in prepared.values()]
    extra = device_run.emulated_hardware(hardware, str(hardware), venvs)
    socket_path = str(short_tmp / "ipc.sock")
    run = device_run.run_until_main_loop(
        native, prepared, configs, socket_path, extra, logs, RUN_DEADLINE_S
    )
    assert set(run.started_s) == set(prepared), device_run.summary(run)
    assert all(run.alive.values()), device_run.summary(run)
