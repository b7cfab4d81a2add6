"""`python -m cloud.greengrass gdk-projects`: one GDK project folder per component.

The GDK CLI holds one component per gdk-config.json and reads `recipe.yaml` next to it, so a
suite of six components needs six projects. Each generated folder is a plain GDK zip project:

    gdk-projects/com.floorline.Sensors/
      gdk-config.json     zip build, zip_name "floorline", author/version/bucket/region from
                          the top-level gdk-config.json
      recipe.yaml         the source recipe from recipes/, unchanged (comments included)
      components/...      exactly the files of the artifact (code only), and
      requirements.txt    the pins from pyproject.toml

so `gdk component build` there zips the same files our own build zips, and
`gdk component publish` publishes the component. Generated, never committed.

GDK's publish leaves the recipe it sent as `greengrass-build/recipes/<name>-<version>.yaml` in
each project; `published_versions` reads the versions from there, so the suite built next
(`build --gdk-layout`, GDK's custom build for the top-level project) pins exactly what GDK
chose, NEXT_PATCH included.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from cloud.greengrass import artifact, layout, recipe
from cloud.greengrass.build import check_sources, select
from cloud.greengrass.project import component_sources, read_gdk_settings

PROJECTS_DIR: Final = "gdk-projects"
GDK_VERSION: Final = "1.6.0"
# Safety net only: the folder already holds nothing but the artifact's files.
ZIP_EXCLUDES: Final = ("**/__pycache__", "**/*.pyc")


def gdk_config(name: str, *, author: str, version: str, bucket: str, region: str) -> dict[str, Any]:
    publish = {"bucket": bucket}
    if region:
        publish["region"] = region
    return {
        "component": {
            name: {
                "author": author,
                "version": version,
                "build": {
                    "build_system": "zip",
                    "options": {
                        "zip_name": layout.ARTIFACT_ZIP.removesuffix(".zip"),
                        "excludes": list(ZIP_EXCLUDES),
                    },
                },
                "publish": publish,
            }
        },
        "gdk_version": GDK_VERSION,
    }


def generate(
    root: Path = layout.REPO_ROOT,
    out: Path | None = None,
    *,
    version: str | None = None,
    components: Iterable[str] | None = None,
) -> list[Path]:
    """Write one GDK project per device component; returns the project folders."""
    settings = read_gdk_settings(root)
    sources = component_sources(root)
    check_sources(sources)
    out = out or root / PROJECTS_DIR
    folders = []
    for source in select(sources, components):
        if source.package is None:
            continue  # the suite is the top-level project itself
        folder = out / source.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        config = gdk_config(
            source.name,
            author=settings.author,
            version=version or settings.version,
            bucket=settings.bucket_prefix,
            region=settings.region,
        )
        (folder / layout.GDK_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        shutil.copyfile(source.recipe_path, folder / "recipe.yaml")
        for arcname, data in artifact.artifact_contents(root, source.package).items():
            target = folder / arcname
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        folders.append(folder)
    return folders


def published_versions(projects: Path) -> dict[str, str]:
    """Component name -> the newest version GDK published from `projects` (none if never)."""
    found: dict[str, str] = {}
    for folder in sorted(p for p in projects.glob("*") if p.is_dir()):
        name = folder.name
        for path in (folder / layout.BUILD_DIR / "recipes").glob(f"{name}-*.yaml"):
            version = str(recipe.load(path)[1].get("ComponentVersion", ""))
            if not layout.is_semver(version) or path.name != layout.publish_recipe_name(
                name, version
            ):
                continue  # not a publish recipe of this component
            if name not in found or layout.semver_key(version) > layout.semver_key(found[name]):
                found[name] = version
    return found
