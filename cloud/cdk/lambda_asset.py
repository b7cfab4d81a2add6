"""Package a Lambda handler with exactly the components.core modules it imports (and the
lake's pure row definition, cloud/lake/rows.py, when it imports that).

The stack's functions (the batch decoder, the provisioning hook) share code with the device
(batch format, envelope, topic scheme). Each asset carries its handler plus the core modules
reachable from it (found by reading imports, not listed by hand), and nothing else: no SQLite
log, no CDK, no third-party packages.
"""

from __future__ import annotations

import ast
import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from cloud import import_graph

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DECODER_HANDLER = HERE / "decoder" / "handler.py"
PROVISIONING_HOOK_HANDLER = HERE / "provisioning_hook" / "handler.py"
HANDLER = "handler.handler"  # every asset puts its handler at the root as handler.py
_CORE_PACKAGE = "components.core"
_LAKE_ROWS = "cloud.lake.rows"


def _imports_module(source: Path, module: str) -> bool:
    tree = ast.parse(source.read_text(), filename=str(source))
    return any(isinstance(n, ast.ImportFrom) and n.module == module for n in ast.walk(tree))


def core_closure(entry: Path, core_dir: Path | None = None) -> list[str]:
    """Every components.core module reachable from `entry`, sorted (cloud/import_graph.py)."""
    core_dir = core_dir or REPO_ROOT / "components" / "core"
    root = core_dir.parents[1]
    # The handler is copied to the asset's root, so it is walked as a top-level module.
    found = import_graph.closure(root, [], ("components",), entry_files=(entry,))
    return [m.rsplit(".", 1)[1] for m in found.under(_CORE_PACKAGE)]


@functools.cache
def code_dir(handler_file: Path) -> Path:
    """A staging directory laid out as the Lambda sees it (built once per process)."""
    stage = Path(tempfile.mkdtemp(prefix=f"floorline-{handler_file.parent.name}-"))
    atexit.register(shutil.rmtree, stage, True)
    core_src = REPO_ROOT / "components" / "core"
    core_dst = stage / "components" / "core"
    core_dst.mkdir(parents=True)
    (stage / "components" / "__init__.py").write_text("")
    (core_dst / "__init__.py").write_text("")
    for name in core_closure(handler_file, core_src):
        shutil.copyfile(core_src / f"{name}.py", core_dst / f"{name}.py")
    if _imports_module(handler_file, _LAKE_ROWS):
        # The lake's row definition (pure Python, standard library only): one source for the
        # local lake and the cloud's decoder.
        rows_dst = stage / "cloud" / "lake"
        rows_dst.mkdir(parents=True)
        for init in (stage / "cloud" / "__init__.py", rows_dst / "__init__.py"):
            init.write_text("")
        shutil.copyfile(REPO_ROOT / "cloud" / "lake" / "rows.py", rows_dst / "rows.py")
    shutil.copyfile(handler_file, stage / "handler.py")
    return stage
