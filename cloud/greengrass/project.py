"""The project's facts the build needs, each read from its one home.

- publisher, release version, artifact bucket prefix, region: `gdk-config.json` (GDK reads the
  same file, so the two builds cannot disagree);
- exact dependency pins: `[project].dependencies` in `pyproject.toml`; each component's
  artifacts get those its code imports (artifact.py) and their wheels (wheels.py);
- the components: one recipe per component in `recipes/`, plus the suite's `recipe.yaml`.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cloud.greengrass import layout


class ProjectError(ValueError):
    """The project's own files are inconsistent; the message names the file and the fact."""


class UnpinnedRequirement(ProjectError):
    def __init__(self, requirement: str) -> None:
        super().__init__(
            f"{layout.PYPROJECT}: dependency {requirement!r} is not pinned with '=='; a device "
            "must install exactly what was tested"
        )
        self.requirement = requirement


@dataclass(frozen=True)
class GdkSettings:
    suite_name: str
    author: str
    version: str
    bucket_prefix: str
    region: str


@dataclass(frozen=True)
class ComponentSource:
    """One component as found in the source tree."""

    key: str  # recipe file stem: "Sensors"
    name: str  # "com.floorline.Sensors"
    recipe_path: Path
    package: str | None  # "sensors"; None for the suite (no code of its own)

    @property
    def has_artifact(self) -> bool:
        return self.package is not None


def read_gdk_settings(root: Path) -> GdkSettings:
    path = root / layout.GDK_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        (suite_name, component), *more = config["component"].items()
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ProjectError(f"{path}: not a readable GDK configuration ({exc})") from exc
    if more:
        raise ProjectError(f"{path}: GDK allows exactly one component per gdk-config.json")
    publish = component.get("publish", {})
    settings = GdkSettings(
        suite_name=suite_name,
        author=str(component.get("author", "")),
        version=str(component.get("version", "")),
        bucket_prefix=str(publish.get("bucket", "")),
        region=str(publish.get("region", "")),
    )
    for field_name in ("author", "version", "bucket_prefix"):
        if not getattr(settings, field_name):
            raise ProjectError(f"{path}: {field_name} is empty")
    if settings.version != layout.NEXT_PATCH and not layout.is_semver(settings.version):
        raise ProjectError(f"{path}: version {settings.version!r} is neither semver nor NEXT_PATCH")
    return settings


_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,.-]+\])?==[A-Za-z0-9.+!_-]+$")


def device_requirements(root: Path) -> list[str]:
    """The exact pins a device installs: `[project].dependencies` of pyproject.toml."""
    path = root / layout.PYPROJECT
    try:
        deps = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["dependencies"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ProjectError(f"{path}: no [project].dependencies ({exc})") from exc
    pins = []
    for dep in deps:
        requirement = dep.split(";", 1)[0].replace(" ", "")
        if not _PINNED.match(requirement):
            raise UnpinnedRequirement(dep)
        pins.append(dep.strip())
    return pins


def python_version(root: Path) -> str:
    """The release version pip sees (pyproject); kept equal to gdk-config.json's by a test."""
    data = tomllib.loads((root / layout.PYPROJECT).read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def component_sources(root: Path) -> list[ComponentSource]:
    """The device components (recipes/*.yaml, sorted by name), then the suite."""
    recipes = sorted((root / layout.RECIPES_DIR).glob("*.yaml"))
    if not recipes:
        raise ProjectError(f"{root / layout.RECIPES_DIR}: no component recipes")
    components = [
        ComponentSource(
            key=path.stem,
            name=layout.component_name(path.stem),
            recipe_path=path,
            package=layout.package_name(path.stem),
        )
        for path in recipes
    ]
    suite = read_gdk_settings(root).suite_name
    components.append(
        ComponentSource(
            key=suite.removeprefix(layout.NAME_PREFIX),
            name=suite,
            recipe_path=root / layout.SUITE_RECIPE,
            package=None,
        )
    )
    return components
