"""Which first-party modules and third-party packages a piece of code needs, found by reading
its imports (never by running it).

One walker for every package the project ships: a component's Greengrass artifact
(cloud/greengrass/artifact.py) and a Lambda asset (cloud/cdk/lambda_asset.py) each take the
modules reachable from their entry point and nothing else.

Every import statement counts, wherever it stands (module level, inside a function, under
`try`): a lazy or optional import is still an import the code can make, so shipping less would
fail at run time instead of at build time. Importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py` first, so parent packages and their own imports are part of the closure.
Dynamic imports (`importlib.import_module(name)`) are invisible to this walker.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Packages of this repository; anything else outside the standard library is third-party.
FIRST_PARTY = ("components", "cloud", "edge_sim")


class ImportNotFound(ImportError):
    """A first-party import names a module that is not in the source tree."""


@dataclass(frozen=True)
class Closure:
    modules: dict[str, Path] = field(default_factory=dict)  # dotted name -> source file
    third_party: frozenset[str] = frozenset()  # top-level import names outside the repo
    optional_third_party: frozenset[str] = frozenset()  # imported only under except ImportError

    def under(self, package: str) -> list[str]:
        """Module names inside `package` (its submodules, not the package itself), sorted."""
        prefix = package + "."
        return sorted(m for m in self.modules if m.startswith(prefix))


def module_file(root: Path, module: str) -> Path | None:
    """The source of a first-party module: `a/b.py` or the package's `a/b/__init__.py`."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in _IMPORT_ERRORS for k in kinds)


@dataclass(frozen=True)
class _Import:
    name: str  # dotted module name
    may_be_attribute: bool  # `from X import n` gives X.n, a submodule or only a name in X
    optional: bool  # inside `try:` with `except ImportError`: the code copes without it


class _Imports(ast.NodeVisitor):
    def __init__(self, package: str) -> None:
        self.package = package
        self.found: list[_Import] = []
        self._guarded = 0

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h) for h in node.handlers)
        self._guarded += guarded
        for child in node.body:
            self.visit(child)
        self._guarded -= guarded
        for after in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(after)

    def visit_Import(self, node: ast.Import) -> None:
        optional = self._guarded > 0
        self.found += [_Import(alias.name, False, optional) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".")
            base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [node.module])])
        else:
            base = node.module or ""
        optional = self._guarded > 0
        self.found.append(_Import(base, False, optional))
        self.found += [
            _Import(f"{base}.{alias.name}", True, optional)
            for alias in node.names
            if alias.name != "*"
        ]


def _imports(module: str, path: Path) -> list[_Import]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    visitor = _Imports(module if _is_package(path) else module.rpartition(".")[0])
    visitor.visit(tree)
    return visitor.found


def closure(
    root: Path,
    entries: list[str],
    first_party: tuple[str, ...] = FIRST_PARTY,
    provided: tuple[str, ...] = (),
    entry_files: tuple[Path, ...] = (),
) -> Closure:
    """Every first-party module reachable from the `entries` (dotted names, their parent
    packages included) and the top-level names of the third-party packages they import.

    `provided`: top-level packages the host puts on the path itself when it needs them (left
    out, not followed). `entry_files`: scripts outside the package tree (a Lambda handler,
    copied to the top of its asset) whose imports are followed too.
    """
    modules: dict[str, Path] = {}
    third: set[str] = set()
    optional: set[str] = set()
    todo = list(entries)

    def want(wanted: _Import, wanted_by: str) -> None:
        top = wanted.name.partition(".")[0]
        if top in provided or top in sys.stdlib_module_names or top in ("", "__main__"):
            return
        if top not in first_party:
            (optional if wanted.optional else third).add(top)
            return
        parts = wanted.name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in modules:
                continue
            path = module_file(root, prefix)
            if path is None:
                if i == len(parts) and wanted.may_be_attribute:
                    return  # `from pkg import name`: a name defined in pkg, not a module
                raise ImportNotFound(
                    f"{wanted_by} imports {wanted.name}: no module {prefix} under {root}"
                )
            modules[prefix] = path
            todo.append(prefix)

    for entry in entries:
        want(_Import(entry, False, False), "entry point")
    for path in entry_files:
        for imported in _imports("", path):
            want(imported, str(path))
    while todo:
        name = todo.pop()
        for imported in _imports(name, modules[name]):
            want(imported, name)
    return Closure(dict(sorted(modules.items())), frozenset(third), frozenset(optional - third))
