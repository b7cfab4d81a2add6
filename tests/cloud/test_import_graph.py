"""cloud/import_graph.py on a small tree written here: what it follows, what it leaves out."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.import_graph import ImportNotFound, closure


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main/__init__.py": "",
            "app/main/__main__.py": (
                "import json\n"
                "from . import helper\n"
                "from ..lib import shared\n"
                "from app.lib.shapes import CIRCLE\n"
                "import yaml\n"
                "def later():\n    import serial.tools\n"
                "try:\n    import pyarrow\nexcept ImportError:\n    pyarrow = None\n"
                "try:\n    import lazyparty\nexcept KeyError:\n    pass\n"
                "from simhost.bus import build\n"
            ),
            "app/main/helper.py": "from app.lib import *\n",
            "app/lib/__init__.py": "import requests\n",
            "app/lib/shared.py": "X = 1\n",
            "app/lib/shapes.py": "CIRCLE = 'o'\n",
            "app/lib/unused.py": "import duckdb\n",
            "app/other/__init__.py": "",
        },
    )


def test_follows_relative_absolute_and_parent_packages(tree: Path) -> None:
    found = closure(tree, ["app.main.__main__"], ("app",), provided=("simhost",))
    assert sorted(found.modules) == [
        "app",
        "app.lib",
        "app.lib.shapes",
        "app.lib.shared",
        "app.main",
        "app.main.__main__",
        "app.main.helper",
    ]
    assert found.under("app.lib") == ["app.lib.shapes", "app.lib.shared"]


def test_third_party_required_optional_and_provided(tree: Path) -> None:
    found = closure(tree, ["app.main.__main__"], ("app",), provided=("simhost",))
    # json is standard library; yaml, serial (inside a function) and requests (a parent
    # package's import) are required; pyarrow is guarded by `except ImportError`; a guard
    # that catches something else does not make lazyparty optional; simhost is provided.
    assert found.third_party == {"yaml", "serial", "requests", "lazyparty"}
    assert found.optional_third_party == {"pyarrow"}


def test_a_missing_first_party_module_is_named(tree: Path) -> None:
    write(tree, {"app/main/helper.py": "from app.lib import gone_module as g\nimport app.nope\n"})
    with pytest.raises(ImportNotFound, match="app.main.helper imports app.nope"):
        closure(tree, ["app.main.__main__"], ("app",), provided=("simhost",))


def test_an_entry_file_outside_the_tree(tree: Path, tmp_path: Path) -> None:
    handler = write(tmp_path / "elsewhere", {"handler.py": "from app.lib import shared\n"})
    found = closure(tree, [], ("app",), entry_files=(handler / "handler.py",))
    assert sorted(found.modules) == ["app", "app.lib", "app.lib.shared"]
