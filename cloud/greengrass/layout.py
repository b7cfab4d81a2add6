"""Where things are: the source tree, the build folder and the names GDK uses.

One home for the paths and naming rules that build, publish, deploy and the GDK project
generator share.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
RECIPES_DIR: Final = "recipes"
SUITE_RECIPE: Final = "recipe.yaml"  # GDK reads its project recipe only next to gdk-config.json
GDK_CONFIG: Final = "gdk-config.json"
PYPROJECT: Final = "pyproject.toml"
BUILD_DIR: Final = "greengrass-build"  # same name as GDK's
BUILD_INDEX: Final = "floorline-build.json"

NAME_PREFIX: Final = "com.floorline."
# Every component ships one zip with this name; Greengrass unpacks it to
# {artifacts:decompressedPath}/floorline/, the folder each Run starts Python from.
ARTIFACT_ZIP: Final = "floorline.zip"
ARTIFACT_ROOT: Final = "floorline"
# Beside it, one wheels zip per platform (wheels-aarch64.zip, wheels-amd64.zip), unpacked to
# {artifacts:decompressedPath}/wheels-<arch>/: the wheels, their lock and pip itself.
WHEELS_PREFIX: Final = "wheels-"
REQUIREMENTS_FILE: Final = "requirements.txt"
INSTALLER_WHEEL: Final = "pip.whl"
# The URI form `gdk component build` writes for an artifact it built.
URI_PLACEHOLDER_PREFIX: Final = "s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/"
NEXT_PATCH: Final = "NEXT_PATCH"

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def wheels_root(arch: str) -> str:
    """Folder the wheels artifact of a platform unpacks to: wheels-aarch64."""
    return f"{WHEELS_PREFIX}{arch}"


def wheels_zip(arch: str) -> str:
    return f"{wheels_root(arch)}.zip"


def is_semver(version: str) -> bool:
    return bool(_SEMVER.match(version))


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key: numeric core, then a release above its pre-releases (build metadata ignored)."""
    core, _, pre = version.split("+", 1)[0].partition("-")
    major, minor, patch = (int(p) for p in core.split("."))
    return (major, minor, patch, 0 if pre else 1, pre)


def next_patch(version: str) -> str:
    """GDK's NEXT_PATCH rule: same major.minor, patch + 1 (pre-release and build dropped)."""
    major, minor, patch = version.split("+", 1)[0].split("-", 1)[0].split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def component_name(key: str) -> str:
    """recipes/Sensors.yaml -> com.floorline.Sensors."""
    return f"{NAME_PREFIX}{key}"


def package_name(key: str) -> str:
    """The Python package of a component: HttpIngest -> http_ingest (components.http_ingest)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def build_recipe_name(name: str) -> str:
    """Recipe file of a built component in greengrass-build/recipes/.

    GDK calls its single built recipe `recipe.yaml`; a multi-component build needs one file per
    component, and `<name>-<version>.yaml` is the name GDK gives the *published* recipe.
    """
    return f"{name}.yaml"


def publish_recipe_name(name: str, version: str) -> str:
    return f"{name}-{version}.yaml"
