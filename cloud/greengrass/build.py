"""`python -m cloud.greengrass build`: the greengrass-build/ folder `gdk component build` makes,
for every component at once, without the GDK CLI.

    greengrass-build/
      artifacts/<ComponentName>/<version>/floorline.zip   the code: what its Run module imports
      artifacts/<ComponentName>/<version>/wheels-<arch>.zip   per platform: wheels, lock, pip
      artifacts/com.floorline.Suite/<version>/            empty: the suite has no code
      recipes/<ComponentName>.yaml                         stamped recipes (GDK: recipe.yaml)
      recipes/recipe.yaml                                  with --gdk-layout: the suite's
      floorline-build.json                                 index: versions, files, SHA-256

Recipes are stamped as GDK stamps them: ComponentName, ComponentVersion, ComponentPublisher,
and `s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/<file>` for each artifact built.

The edge_sim hook is `load_build(build_dir)`: for each component, the parsed recipe and the
artifact zip, checked against the SHA-256 the build recorded, so a simulated deployment runs
byte for byte what `publish` uploads.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloud.greengrass import artifact, layout, recipe, wheels
from cloud.greengrass.project import (
    ComponentSource,
    ProjectError,
    component_sources,
    read_gdk_settings,
)

INDEX_FORMAT = 1


class BuildOutputMismatch(ProjectError):
    """greengrass-build/ does not hold what its index says (edited, stale or partial)."""


@dataclass(frozen=True)
class BuiltComponent:
    name: str
    version: str
    recipe: dict[str, Any]
    recipe_path: Path
    artifacts: dict[str, Path] = field(default_factory=dict)  # file name -> path
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> hex digest

    @property
    def artifact_zip(self) -> Path | None:
        """The component's zip, or None for a component without code (the suite)."""
        return self.artifacts.get(layout.ARTIFACT_ZIP)


def select(sources: list[ComponentSource], wanted: Iterable[str] | None) -> list[ComponentSource]:
    """Sources named by key ("Sensors") or full name; all of them when `wanted` is empty."""
    wanted = list(wanted or [])
    if not wanted:
        return sources
    by_name = {s.key: s for s in sources} | {s.name: s for s in sources}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise ProjectError(f"unknown component(s) {unknown}; known: {[s.key for s in sources]}")
    chosen = {by_name[w].name for w in wanted}
    return [s for s in sources if s.name in chosen]


def check_sources(sources: list[ComponentSource]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Load and check every recipe; one RecipeError listing every finding of every file."""
    device = [s.name for s in sources if s.package is not None]
    loaded, findings = {}, []
    for source in sources:
        text, parsed = recipe.load(source.recipe_path)
        loaded[source.name] = (text, parsed)
        found = recipe.problems(source, parsed, text, device)
        findings += [f"{source.recipe_path.name}: {p}" for p in found]
    if findings:
        raise recipe.RecipeError("recipes", findings)
    return loaded


def build(
    root: Path = layout.REPO_ROOT,
    out: Path | None = None,
    *,
    version: str | None = None,
    components: Iterable[str] | None = None,
    gdk_layout: bool = False,
    pins: Mapping[str, str] | None = None,
) -> dict[str, BuiltComponent]:
    """`pins`: versions the suite's dependencies require instead of `version` (e.g. what GDK
    published for each component)."""
    settings = read_gdk_settings(root)
    version = version or settings.version
    if version != layout.NEXT_PATCH and not layout.is_semver(version):
        raise ProjectError(f"version {version!r} is neither semver nor {layout.NEXT_PATCH}")
    all_sources = component_sources(root)
    loaded = check_sources(all_sources)  # every recipe is checked, even when building a few
    sources = select(all_sources, components)
    out = out or root / layout.BUILD_DIR
    shutil.rmtree(out, ignore_errors=True)
    (out / "recipes").mkdir(parents=True)

    built: dict[str, BuiltComponent] = {}
    for source in sources:
        artifacts_dir = out / "artifacts" / source.name / version
        artifacts_dir.mkdir(parents=True)
        files: dict[str, Path] = {}
        digests: dict[str, str] = {}
        if source.package is not None:
            contents = {layout.ARTIFACT_ZIP: artifact.artifact_contents(root, source.package)}
            needs = artifact.requirements(root, source.package)
            for _, arch in recipe.PLATFORMS:
                contents[layout.wheels_zip(arch)] = wheels.wheels_contents(root, needs, arch)
            for file_name, members in contents.items():
                data = artifact.zip_bytes(members)
                files[file_name] = artifacts_dir / file_name
                files[file_name].write_bytes(data)
                digests[file_name] = artifact.sha256(data)
        source_recipe = loaded[source.name][1]
        # Dependencies on floorline components (the suite's, DevicePrep) name the version built
        # with them, or the version GDK published (`pins`); others (Stream Manager...) keep
        # their range.
        deps = {
            name: (pins or {}).get(name, version)
            for name in source_recipe.get("ComponentDependencies") or {}
            if name.startswith(layout.NAME_PREFIX)
        }
        stamped = recipe.stamp(
            source_recipe,
            name=source.name,
            version=version,
            publisher=settings.author,
            artifact_files=files,
            dependency_versions=deps,
        )
        data = recipe.dump(stamped)
        recipe_path = out / "recipes" / layout.build_recipe_name(source.name)
        recipe.check_size(recipe_path, data)
        recipe_path.write_bytes(data)
        if gdk_layout and source.name == settings.suite_name:
            (out / "recipes" / layout.SUITE_RECIPE).write_bytes(data)
        built[source.name] = BuiltComponent(
            source.name, version, stamped, recipe_path, files, digests
        )
    _write_index(out, built)
    return built


def _write_index(out: Path, built: Mapping[str, BuiltComponent]) -> None:
    index = {
        "format": INDEX_FORMAT,
        "components": {
            name: {
                "version": b.version,
                "recipe": b.recipe_path.relative_to(out).as_posix(),
                "artifacts": {
                    file_name: {
                        "path": path.relative_to(out).as_posix(),
                        "sha256": b.sha256[file_name],
                        "bytes": path.stat().st_size,
                    }
                    for file_name, path in b.artifacts.items()
                },
            }
            for name, b in built.items()
        },
    }
    (out / layout.BUILD_INDEX).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def load_build(build_dir: Path) -> dict[str, BuiltComponent]:
    """The edge_sim hook: what a build produced, by component name, verified byte for byte.

    Returns the parsed stamped recipe and the artifact paths of every component in
    `build_dir` (a greengrass-build/ folder written by `build`); raises BuildOutputMismatch if
    a file is missing or its SHA-256 differs from the one recorded at build time.
    """
    index_path = build_dir / layout.BUILD_INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildOutputMismatch(f"{index_path}: no build index ({exc}); run build") from exc
    if index.get("format") != INDEX_FORMAT:
        raise BuildOutputMismatch(f"{index_path}: index format {index.get('format')!r}")
    result = {}
    for name, entry in index["components"].items():
        recipe_path = build_dir / entry["recipe"]
        try:
            parsed = yaml.safe_load(recipe_path.read_bytes())
        except OSError as exc:
            raise BuildOutputMismatch(f"{recipe_path}: {exc}") from exc
        stated = (parsed.get("ComponentName"), parsed.get("ComponentVersion"))
        if stated != (name, entry["version"]):
            raise BuildOutputMismatch(f"{recipe_path}: does not describe {name} {entry['version']}")
        files, digests = {}, {}
        for file_name, meta in entry["artifacts"].items():
            path = build_dir / meta["path"]
            try:
                digest = artifact.sha256(path.read_bytes())
            except OSError as exc:
                raise BuildOutputMismatch(f"{path}: {exc}") from exc
            if digest != meta["sha256"]:
                raise BuildOutputMismatch(
                    f"{path}: SHA-256 {digest} but the build recorded {meta['sha256']}"
                )
            files[file_name], digests[file_name] = path, digest
        result[name] = BuiltComponent(name, entry["version"], parsed, recipe_path, files, digests)
    return result
