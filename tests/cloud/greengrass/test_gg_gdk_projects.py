"""Per-component GDK projects: what `gdk component build` zips there is what our build zips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from cloud.greengrass import layout
from cloud.greengrass.build import build
from cloud.greengrass.gdk_projects import generate
from cloud.greengrass.project import read_gdk_settings


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name not in ("gdk-config.json", "recipe.yaml")
    }


@pytest.mark.slow
def test_one_project_per_component(tree: Path) -> None:
    folders = generate(tree, tree / "gdk-projects")
    names = sorted(f.name for f in folders)
    assert names == sorted(layout.component_name(p.stem) for p in (tree / "recipes").glob("*.yaml"))
    settings = read_gdk_settings(tree)
    built = build(tree)
    for folder in folders:
        config = json.loads((folder / "gdk-config.json").read_text())
        assert config["gdk_version"] == "1.6.0"
        assert list(config["component"]) == [folder.name]  # GDK: one component per project
        component = config["component"][folder.name]
        assert component["author"] == settings.author
        assert component["version"] == settings.version
        assert component["build"]["build_system"] == "zip"
        assert component["build"]["options"]["zip_name"] == "floorline"
        assert component["publish"] == {"bucket": settings.bucket_prefix, "region": settings.region}
        key = folder.name.removeprefix(layout.NAME_PREFIX)
        assert (folder / "recipe.yaml").read_bytes() == (tree / f"recipes/{key}.yaml").read_bytes()
        # The folder GDK zips holds exactly the files of our artifact.
        with zipfile.ZipFile(built[folder.name].artifact_zip) as archive:
            ours = {n: archive.read(n) for n in archive.namelist()}
        assert _files(folder) == ours


def test_version_override(tree: Path) -> None:
    (folder,) = generate(tree, tree / "p", version="NEXT_PATCH", components=["Uplink"])
    config = json.loads((folder / "gdk-config.json").read_text())
    assert config["component"]["com.floorline.Uplink"]["version"] == "NEXT_PATCH"


@pytest.mark.slow
def test_suite_pins_the_versions_gdk_published(tree: Path) -> None:
    """After `gdk component publish` in each project (with NEXT_PATCH GDK picks the version),
    the top-level custom build pins the suite to exactly those versions."""
    import yaml

    from cloud.greengrass.__main__ import main
    from cloud.greengrass.gdk_projects import PROJECTS_DIR, published_versions

    folders = generate(tree, tree / PROJECTS_DIR, version="NEXT_PATCH")
    sensors = next(f for f in folders if f.name == "com.floorline.Sensors")
    published = sensors / layout.BUILD_DIR / "recipes"
    published.mkdir(parents=True)
    for version in ("1.0.9", "1.0.10"):  # GDK's publish recipe file, one per publish
        text = (sensors / "recipe.yaml").read_text().replace("{COMPONENT_VERSION}", version)
        recipe_doc = yaml.safe_load(text)
        recipe_doc["ComponentVersion"] = version
        (published / f"com.floorline.Sensors-{version}.yaml").write_text(yaml.safe_dump(recipe_doc))
    (published / "com.floorline.Sensors-junk.yaml").write_text("ComponentVersion: junk\n")
    assert published_versions(tree / PROJECTS_DIR) == {"com.floorline.Sensors": "1.0.10"}

    assert main(["--root", str(tree), "build", "--gdk-layout"]) == 0
    suite = yaml.safe_load((tree / layout.BUILD_DIR / "recipes" / layout.SUITE_RECIPE).read_text())
    deps = suite["ComponentDependencies"]
    assert deps["com.floorline.Sensors"]["VersionRequirement"] == "=1.0.10"
    version = read_gdk_settings(tree).version
    others = {v["VersionRequirement"] for k, v in deps.items() if k != "com.floorline.Sensors"}
    assert others == {f"={version}"}  # not published through GDK: the build's own version
