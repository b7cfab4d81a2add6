"""The artifact of a component: its code, the shared core and the pinned requirements, zipped
so that the same sources always give the same bytes.

Contents (paths in the zip; Greengrass unpacks it to {artifacts:decompressedPath}/floorline/):
    components/__init__.py, components/core/**, components/<package>/**, requirements.txt
Left out: tests (GDK's default `**/test*`), hidden files (`**/.*`), caches and compiled files
(`__pycache__`, `*.pyc`, `*.pyo`), conftest.py, egg-info and Markdown docs.
Deterministic: entries sorted, fixed timestamp (1980-01-01, the zip epoch), fixed permissions,
fixed compression level, so edge_sim deploys byte for byte what publish uploads.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cloud.greengrass import layout
from cloud.greengrass.project import ProjectError, requirements_text

ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
FILE_MODE: Final = 0o100644  # regular file, rw-r--r--
COMPRESS_LEVEL: Final = 9
# Libraries every component ships with: shared code, never a component of their own.
SHARED_PACKAGES: Final = ("core", "gpio")
_EXCLUDED_SUFFIXES: Final = (".pyc", ".pyo", ".md")
_EXCLUDED_NAMES: Final = frozenset({"__pycache__", "conftest.py"})


class ComponentSourceMissing(ProjectError):
    """The recipe names a component whose package is not in components/."""


def excluded(name: str) -> bool:
    """True for a file or folder name that never goes into an artifact."""
    return (
        name.startswith((".", "test"))
        or name in _EXCLUDED_NAMES
        or name.endswith(_EXCLUDED_SUFFIXES)
        or name.endswith(".egg-info")
    )


def _package_files(root: Path, package: str) -> dict[str, Path]:
    base = root / "components" / package
    if not (base / "__init__.py").is_file() and not (base / "__main__.py").is_file():
        raise ComponentSourceMissing(f"{base}: no Python package for component '{package}'")
    found = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(root)
        if any(excluded(part) for part in rel.parts) or not path.is_file():
            continue
        found[rel.as_posix()] = path
    return found


def artifact_contents(root: Path, package: str) -> dict[str, bytes]:
    """Every file of a component's artifact, by its path inside the zip."""
    top = "components/__init__.py"
    files: dict[str, bytes] = {top: (root / top).read_bytes()}
    for pkg in (*SHARED_PACKAGES, package):
        files.update({arc: p.read_bytes() for arc, p in _package_files(root, pkg).items()})
    files[layout.REQUIREMENTS_FILE] = requirements_text(root).encode("utf-8")
    return dict(sorted(files.items()))


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[arcname], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
