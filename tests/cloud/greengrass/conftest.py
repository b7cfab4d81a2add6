"""A project tree to build from: the real recipes, gdk-config.json, pyproject.toml and core,
plus a small package for each component with the clutter a real checkout has (tests, caches,
hidden files, docs) that must never reach an artifact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cloud.greengrass import layout

PACKAGES = ("analytics", "console", "device_prep", "http_ingest", "rfid", "sensors", "uplink")
SHARED_PACKAGES = ("core", "lib")
# What each small component's __main__.py imports: shared code, another component's module
# (the Console reads the RFID frames), third-party packages, an optional one.
MAIN_SOURCE = {
    "console": "from components.rfid import frames\nprint(frames.NAME)\n",
    "http_ingest": "from components.core import limits\nprint(limits.RECIPE_MAX_BYTES)\n",
    "sensors": "import serial\nimport yaml\ntry:\n    import pyarrow\nexcept ImportError:\n"
    "    pyarrow = None\nprint(serial, yaml)\n",
}
CLUTTER = (
    "tests/test_main.py",
    "tests/__init__.py",
    "test_helpers.py",
    "__pycache__/__main__.cpython-311.pyc",
    "stray.pyc",
    ".env",
    ".cache/x",
    "README.md",
    "conftest.py",
)


def make_tree(root: Path) -> Path:
    repo = layout.REPO_ROOT
    for name in (layout.RECIPES_DIR, *(f"components/{p}" for p in SHARED_PACKAGES)):
        shutil.copytree(repo / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (
        layout.SUITE_RECIPE,
        layout.GDK_CONFIG,
        layout.PYPROJECT,
        "components/__init__.py",
    ):
        shutil.copyfile(repo / name, root / name)
    (root / "components/core/__pycache__").mkdir()
    (root / "components/core/__pycache__/log.cpython-311.pyc").write_bytes(b"\0cache")
    for package in PACKAGES:
        base = root / "components" / package
        base.mkdir()
        (base / "__init__.py").write_text("")
        (base / "__main__.py").write_text(MAIN_SOURCE.get(package, f'print("{package}")\n'))
        (base / "data").mkdir()
        (base / "data/schema.json").write_text('{"type": "object"}\n')
        for rel in CLUTTER:
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_bytes(b"clutter")
    (root / "components/rfid/frames.py").write_text('NAME = "frames"\n')
    (root / "components/rfid/unused.py").write_text("import duckdb\n")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "project")
