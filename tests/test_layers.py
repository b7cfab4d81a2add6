"""The layer contracts (pyproject.toml's [tool.importlinter]) hold on this tree and bite: a
copy of the tree with one wrong import fails, naming the contract it breaks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs lint-imports as a process, as `make lint` does

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _tree(tmp_path: Path) -> Path:
    for package in ("components", "edge_sim", "cloud"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, so the graph is the copy's, not the installed tree's.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "components/sensors/service.py",
            "import components.rfid.presence",
            "Components meet in the log, never through imports",
        ),
        (
            "components/uplink/flow.py",
            "import edge_sim.hardware.bus",
            "Device code never imports the simulator or the cloud",
        ),
        (
            "components/core/topics.py",
            "import components.lib.drivers.base",
            "Components sit on the shared library, which sits on core",
        ),
        (
            "components/lib/gpio/status.py",
            "import components.console.levels",
            "Components sit on the shared library, which sits on core",
        ),
        (
            "cloud/lake/store.py",
            "import components.uplink.plan",
            "The cloud imports no component and no simulator",
        ),
        (
            "cloud/rules/engine.py",
            "import components.core.log",
            "The cloud reads core's published formats only",
        ),
    ],
)
def test_one_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _tree(tmp_path)
    source = tree / module
    source.write_text(source.read_text() + f"\n{line}  # the wrong import\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout
