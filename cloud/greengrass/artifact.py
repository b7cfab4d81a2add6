"""The code artifact of a component: what its Run module imports, zipped so that the same
sources always give the same bytes.

Contents (paths in the zip; Greengrass unpacks it to {artifacts:decompressedPath}/floorline/):
every `components` module reachable from `components/<package>/__main__.py` (read from the
imports, cloud/import_graph.py: the Console gets the rfid and sensors modules it uses and
nothing else of them), the parent packages' `__init__.py`, and the data files (JSON...) of
the packages it holds, and floorline's dist-info (its version). Left out: tests (GDK's
default `**/test*`), hidden files (`**/.*`), caches and compiled files, conftest.py, egg-info
and Markdown docs.
The third-party packages those modules import give the component's requirements
(`requirements`): the pins of pyproject.toml that provide them. The wheels are another artifact
(cloud/greengrass/wheels.py), one per platform.
Deterministic: entries sorted, fixed timestamp (1980-01-01, the zip epoch), fixed permissions,
fixed compression level, so edge_sim deploys byte for byte what publish uploads.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cloud import import_graph
from cloud.greengrass.project import ProjectError, device_requirements, python_version

ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
FILE_MODE: Final = 0o100644  # regular file, rw-r--r--
COMPRESS_LEVEL: Final = 9
_EXCLUDED_SUFFIXES: Final = (".pyc", ".pyo", ".md")
_EXCLUDED_NAMES: Final = frozenset({"__pycache__", "conftest.py"})


class ComponentSourceMissing(ProjectError):
    """The recipe names a component whose package is not in components/."""


class UnpinnedImport(ProjectError):
    """Component code imports a third-party package that no device pin provides."""


def excluded(name: str) -> bool:
    """True for a file or folder name that never goes into an artifact."""
    return (
        name.startswith((".", "test"))
        or name in _EXCLUDED_NAMES
        or name.endswith(_EXCLUDED_SUFFIXES)
        or name.endswith(".egg-info")
    )


def run_module(package: str) -> str:
    """The module `python -m components.<package>` runs."""
    return f"components.{package}.__main__"


def code_closure(root: Path, package: str) -> import_graph.Closure:
    if import_graph.module_file(root, run_module(package)) is None:
        raise ComponentSourceMissing(
            f"{root / 'components' / package}: no __main__.py for component '{package}'"
        )
    try:
        return import_graph.closure(root, [run_module(package)], ("components",))
    except import_graph.ImportNotFound as exc:
        raise ComponentSourceMissing(f"component '{package}': {exc}") from exc


def _data_files(root: Path, package_dir: Path) -> dict[str, Path]:
    """Files of a package that are not Python modules (schemas, tables), in the package's own
    folder and its plain subfolders (a subpackage ships only if it is imported)."""
    found = {}
    for path in sorted(package_dir.iterdir()):
        if excluded(path.name):
            continue
        if path.is_dir() and not (path / "__init__.py").exists():
            found.update(_data_files(root, path))
        elif path.is_file() and path.suffix != ".py":
            found[path.relative_to(root).as_posix()] = path
    return found


def dist_info(root: Path) -> dict[str, bytes]:
    """`floorline-<version>.dist-info/METADATA` (PEP 376 name, core metadata 2.1), so that
    code run from the artifact knows floorline's version as an installed copy would (the
    Uplink reports it in the shadow; without it, `unknown`). The version is pyproject's."""
    version = python_version(root)
    metadata = f"Metadata-Version: 2.1\nName: floorline\nVersion: {version}\n"
    return {f"floorline-{version}.dist-info/METADATA": metadata.encode("utf-8")}


def artifact_contents(root: Path, package: str) -> dict[str, bytes]:
    """Every file of a component's code artifact, by its path inside the zip."""
    files: dict[str, Path] = {}
    for path in code_closure(root, package).modules.values():
        files[path.relative_to(root).as_posix()] = path
        if path.name == "__init__.py":
            files.update(_data_files(root, path.parent))
    contents = {arc: files[arc].read_bytes() for arc in files} | dist_info(root)
    return dict(sorted(contents.items()))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(root: Path, package: str) -> list[str]:
    """The pyproject pins a component needs: those providing what its code imports.

    An import under `except ImportError` (optional) is shipped when a pin provides it and left
    out otherwise (the Console's Parquet export without pyarrow says so and offers CSV).
    """
    closure = code_closure(root, package)
    pins = {_normalise(p.split("==", 1)[0].split("[", 1)[0]): p for p in device_requirements(root)}
    providers = importlib.metadata.packages_distributions()
    chosen: set[str] = set()
    for name in sorted(closure.third_party | closure.optional_third_party):
        dists = [_normalise(d) for d in providers.get(name, [])]
        pinned = [pins[d] for d in dists if d in pins]
        if pinned:
            chosen.update(pinned)
        elif name in closure.third_party:
            raise UnpinnedImport(
                f"components.{package} imports {name!r}, which no [project].dependencies pin "
                f"provides (installed from: {dists or 'nowhere'})"
            )
    return sorted(chosen, key=str.lower)


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            # A wheel is a zip already: stored as it is, it costs no time and no bytes.
            stored = arcname.endswith(".whl")
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, files[arcname], compresslevel=None if stored else COMPRESS_LEVEL)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
