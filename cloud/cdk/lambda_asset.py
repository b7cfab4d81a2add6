"""Package a Lambda handler with exactly the project modules it imports, and nothing else.

The stack's functions (the batch decoder, the provisioning hook) share code with the device
and the local lake (batch format, envelope, topic scheme, the lake's decode path). Each asset
carries its handler plus the first-party modules reachable from it (found by reading imports,
not listed by hand): no SQLite log, no CDK, no third-party packages.

`module_closure` is the one definition of "what a piece of code needs from this repository";
anything else that packages code (a component artifact) can ask it the same question.
"""

from __future__ import annotations

import ast
import atexit
import functools
import shutil
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DECODER_HANDLER = HERE / "decoder" / "handler.py"
PROVISIONING_HOOK_HANDLER = HERE / "provisioning_hook" / "handler.py"
HANDLER = "handler.handler"  # every asset puts its handler at the root as handler.py


def _module_file(dotted: str, root: Path) -> Path | None:
    """The file of a first-party module or package under `root`, if there is one."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts if path.name == "__init__.py" else parts[:-1]


def _imported_names(source: Path, root: Path) -> set[str]:
    """Dotted names one file imports (absolute; relative imports resolved when under `root`).
    `from a.b import c` yields both `a.b` and `a.b.c`: c may be a module or an attribute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if not source.is_relative_to(root):
                    continue
                package = _package_of(source, root)
                package = package[: len(package) - node.level + 1]
                module = ".".join([*package, *filter(None, [node.module])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def module_closure(entry: Path, root: Path = REPO_ROOT) -> list[str]:
    """Every first-party module reachable from `entry` through imports, as repo-relative
    POSIX paths, sorted; package `__init__.py` files of each module included.

    A name is first-party when its file exists under `root`; the standard library and
    third-party packages (boto3 in the Lambda runtime) are left to the runtime. Imports inside
    functions count too: a lazily imported project module must be in the package all the same.
    """
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        for dotted in _imported_names(path, root):
            parts = dotted.split(".")
            for depth in range(1, len(parts) + 1):  # a.b.c needs a/__init__ and a/b/__init__
                found = _module_file(".".join(parts[:depth]), root)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    seen.discard(entry)
    return sorted(path.relative_to(root).as_posix() for path in seen)


@functools.cache
def code_dir(handler_file: Path) -> Path:
    """A staging directory laid out as the Lambda sees it (built once per process): the
    handler as handler.py at the root, the modules it reaches at their repo paths."""
    stage = Path(tempfile.mkdtemp(prefix=f"floorline-{handler_file.parent.name}-"))
    atexit.register(shutil.rmtree, stage, True)
    for relative in module_closure(handler_file):
        target = stage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)
    shutil.copyfile(handler_file, stage / "handler.py")
    return stage
