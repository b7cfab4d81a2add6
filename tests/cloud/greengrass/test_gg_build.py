"""The build without GDK: layout, zip contents, determinism, stamping, limits, edge_sim hook."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import yaml

from cloud.greengrass import layout, recipe
from cloud.greengrass.__main__ import main
from cloud.greengrass.artifact import UnpinnedImport, requirements
from cloud.greengrass.build import BuildOutputMismatch, build, load_build
from cloud.greengrass.project import (
    ProjectError,
    UnpinnedRequirement,
    python_version,
    read_gdk_settings,
)
from cloud.greengrass.wheels import WheelResolutionFailed
from components.core.limits import RECIPE_MAX_BYTES

DEVICE = sorted(
    layout.component_name(k)
    for k in ("Analytics", "Console", "DevicePrep", "HttpIngest", "Rfid", "Sensors", "Uplink")
)
SUITE = "com.floorline.Suite"


def zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


@pytest.mark.slow
def test_layout_matches_gdk(tree: Path) -> None:
    built = build(tree, gdk_layout=True)
    out = tree / "greengrass-build"
    assert sorted(built) == sorted([*DEVICE, SUITE])
    for name in DEVICE:
        assert (out / "artifacts" / name / "0.1.0" / "floorline.zip").is_file()
        assert (out / "recipes" / f"{name}.yaml").is_file()
    assert list((out / "artifacts" / SUITE / "0.1.0").iterdir()) == []
    assert (out / "recipes/recipe.yaml").read_bytes() == (
        out / f"recipes/{SUITE}.yaml"
    ).read_bytes()


@pytest.mark.slow
def test_zip_holds_what_the_run_module_imports(tree: Path) -> None:
    built = build(tree)
    names = zip_names(built["com.floorline.HttpIngest"].artifact_zip)
    assert names == [
        "components/__init__.py",
        "components/core/__init__.py",
        "components/core/limits.py",
        "components/http_ingest/__init__.py",
        "components/http_ingest/__main__.py",
        "components/http_ingest/data/schema.json",
        "floorline-0.1.0.dist-info/METADATA",
    ]
    # The Console gets the one RFID module it imports (and its package's data), nothing else
    # of the RFID component: not its Run module, not unused.py.
    console = zip_names(built["com.floorline.Console"].artifact_zip)
    assert [n for n in console if n.startswith("components/rfid/")] == [
        "components/rfid/__init__.py",
        "components/rfid/data/schema.json",
        "components/rfid/frames.py",
    ]
    for name in names + console:
        parts = name.split("/")
        assert not any(p.startswith(("test", ".")) or p == "__pycache__" for p in parts), name
        assert not name.endswith((".pyc", ".md")) and not name.endswith("conftest.py"), name


def test_code_run_from_the_zip_knows_floorline_s_version(tree: Path, tmp_path: Path) -> None:
    from components.uplink.__main__ import _version

    built = build(tree, components=["Uplink"])
    with zipfile.ZipFile(built["com.floorline.Uplink"].artifact_zip) as archive:
        archive.extractall(tmp_path / "floorline")
    assert _version([str(tmp_path / "floorline")]) == python_version(tree) == "0.1.0"


def test_requirements_are_the_pins_of_what_the_code_imports(tree: Path) -> None:
    # pyarrow is imported under `except ImportError` and pinned nowhere: left out.
    assert requirements(tree, "sensors") == ["pyserial==3.5", "PyYAML==6.0.3"]
    assert requirements(tree, "http_ingest") == []
    built = build(tree, components=["Sensors"])
    files = built["com.floorline.Sensors"].artifacts
    assert sorted(files) == ["floorline.zip", "wheels-aarch64.zip", "wheels-amd64.zip"]
    for arch, machine in (("aarch64", "aarch64"), ("amd64", "x86_64")):
        with zipfile.ZipFile(files[f"wheels-{arch}.zip"]) as archive:
            lock = archive.read("requirements.txt").decode().splitlines()
            wheel_names = [n for n in archive.namelist() if n.endswith(".whl")]
            installer = archive.read("pip.whl")
        assert [p for p in lock if not p.startswith("#")] == ["pyserial==3.5", "pyyaml==6.0.3"]
        (yaml_wheel,) = [n for n in wheel_names if n.startswith("pyyaml-")]
        assert "cp311" in yaml_wheel and yaml_wheel.endswith(f"_{machine}.whl")
        with zipfile.ZipFile(io.BytesIO(installer)) as pip_wheel:
            assert "pip/__main__.py" in pip_wheel.namelist()


@pytest.mark.slow
def test_a_pin_without_a_wheel_for_the_device_fails_the_build(tree: Path) -> None:
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"PyYAML==6.0.3"', '"PyYAML==0.0.1"'))
    with pytest.raises(WheelResolutionFailed, match="aarch64"):
        build(tree, components=["Sensors"])


def test_an_import_no_pin_provides_is_refused(tree: Path) -> None:
    main = tree / "components/analytics/__main__.py"
    main.write_text("import duckdb\n")  # installed here for the lake, not a device pin
    with pytest.raises(UnpinnedImport, match="duckdb"):
        build(tree, components=["Analytics"])


def test_unpinned_dependency_is_refused(tree: Path) -> None:
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyserial==3.5"', '"pyserial>=3"'))
    with pytest.raises(UnpinnedRequirement) as caught:
        build(tree)
    assert caught.value.requirement == "pyserial>=3"


@pytest.mark.slow
def test_zips_are_deterministic(tree: Path, tmp_path: Path) -> None:
    first = {n: b.artifact_zip.read_bytes() for n, b in build(tree).items() if b.artifact_zip}
    for path in (tree / "components").rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))  # other mtimes, same content
    second = build(tree, tmp_path / "elsewhere")
    assert {n: b.artifact_zip.read_bytes() for n, b in second.items() if b.artifact_zip} == first
    with zipfile.ZipFile(second["com.floorline.Uplink"].artifact_zip) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644


@pytest.mark.slow
def test_recipes_are_stamped_like_gdk(tree: Path) -> None:
    settings = read_gdk_settings(tree)
    built = build(tree, version="2.3.4")
    for name in DEVICE:
        stamped = yaml.safe_load(built[name].recipe_path.read_bytes())
        assert (stamped["ComponentName"], stamped["ComponentVersion"]) == (name, "2.3.4")
        assert stamped["ComponentPublisher"] == settings.author
        prefix = "s3://BUCKET_NAME/COMPONENT_NAME/COMPONENT_VERSION/"
        assert recipe.artifact_uris(stamped) == [
            f"{prefix}floorline.zip",
            f"{prefix}wheels-aarch64.zip",
            f"{prefix}floorline.zip",
            f"{prefix}wheels-amd64.zip",
        ]
        assert "&id0" not in built[name].recipe_path.read_text()  # no YAML anchors left
    suite = yaml.safe_load(built[SUITE].recipe_path.read_bytes())
    assert {d: s["VersionRequirement"] for d, s in suite["ComponentDependencies"].items()} == {
        name: "=2.3.4" for name in DEVICE
    }


def test_next_patch_build_says_so(tree: Path) -> None:
    built = build(tree, version="NEXT_PATCH", components=["Rfid"])
    assert (
        yaml.safe_load(built["com.floorline.Rfid"].recipe_path.read_bytes())["ComponentVersion"]
        == "NEXT_PATCH"
    )
    assert (
        tree / "greengrass-build/artifacts/com.floorline.Rfid/NEXT_PATCH/floorline.zip"
    ).is_file()


def test_bad_version_is_refused(tree: Path) -> None:
    with pytest.raises(ProjectError, match="neither semver"):
        build(tree, version="1.2")


def test_recipe_limit_boundary(tree: Path) -> None:
    source = tree / "recipes/Console.yaml"
    original = source.read_bytes()

    def pad_to(size: int) -> None:  # a trailing comment: GDK counts comments too
        source.write_bytes(original + b"#" + b"x" * (size - len(original) - 2) + b"\n")
        assert source.stat().st_size == size

    pad_to(RECIPE_MAX_BYTES)
    build(tree, components=["Console"])  # exactly at the limit: accepted, as GDK does
    pad_to(RECIPE_MAX_BYTES + 1)
    with pytest.raises(recipe.RecipeTooLarge) as caught:
        build(tree, components=["Console"])
    assert caught.value.size_bytes == RECIPE_MAX_BYTES + 1


@pytest.mark.slow
def test_a_bad_recipe_stops_the_build_before_anything_is_written(tree: Path) -> None:
    out = tree / "greengrass-build"
    build(tree)
    before = sorted(p.name for p in out.rglob("*"))
    source = tree / "recipes/Sensors.yaml"
    text = source.read_text()
    source.write_text(
        text.replace("architecture: amd64", "architecture: arm")
        .replace("floorline/live/sensors/*", "floorline/live/rfid/*")
        .replace("    i2cBus: 1", "    # doc\n    I2C_bus: 1")
    )
    with pytest.raises(recipe.RecipeError) as caught:
        build(tree)
    found = " | ".join(caught.value.problems)
    assert "expected exactly" in found and "floorline/live/rfid/*" in found
    assert "'I2C_bus' is not camelCase" in found
    assert sorted(p.name for p in out.rglob("*")) == before


def test_missing_component_code_is_named(tree: Path) -> None:
    (tree / "components/rfid/__init__.py").unlink()
    (tree / "components/rfid/__main__.py").unlink()
    with pytest.raises(ProjectError, match="components/rfid"):
        build(tree, components=["Rfid"])
    # The Console imports from it: its build names the missing module too.
    with pytest.raises(ProjectError, match="console.*imports components.rfid"):
        build(tree, components=["Console"])


@pytest.mark.slow
def test_load_build_is_the_edge_sim_hook(tree: Path) -> None:
    built = build(tree)
    loaded = load_build(tree / "greengrass-build")
    assert sorted(loaded) == sorted(built)
    for name in DEVICE:
        assert loaded[name].recipe == yaml.safe_load(built[name].recipe_path.read_bytes())
        assert loaded[name].artifact_zip == built[name].artifact_zip
        assert loaded[name].sha256 == built[name].sha256
    assert loaded[SUITE].artifact_zip is None


@pytest.mark.slow
def test_load_build_refuses_a_changed_zip(tree: Path) -> None:
    built = build(tree)
    path = built["com.floorline.Analytics"].artifact_zip
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(BuildOutputMismatch, match="SHA-256"):
        load_build(tree / "greengrass-build")


def test_load_build_without_a_build(tmp_path: Path) -> None:
    with pytest.raises(BuildOutputMismatch, match="run build"):
        load_build(tmp_path)


def test_cli_build_and_failure(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tree), "build", "--component", "Sensors"]) == 0
    index = json.loads((tree / "greengrass-build" / layout.BUILD_INDEX).read_text())
    assert list(index["components"]) == ["com.floorline.Sensors"]
    assert main(["--root", str(tree), "build", "--component", "Nope"]) == 1
    assert "unknown component" in capsys.readouterr().err


@pytest.mark.slow
def test_every_package_is_built(tree: Path) -> None:
    built = build(tree)
    for key in ("Analytics", "Console", "DevicePrep", "HttpIngest", "Rfid", "Sensors", "Uplink"):
        package = layout.package_name(key)
        names = zip_names(built[layout.component_name(key)].artifact_zip)
        assert f"components/{package}/__main__.py" in names


def test_the_suite_must_list_exactly_the_components(tree: Path) -> None:
    suite = tree / "recipe.yaml"
    parsed = yaml.safe_load(suite.read_text())
    del parsed["ComponentDependencies"]["com.floorline.Rfid"]
    parsed["Manifests"][0]["Lifecycle"] = {"Run": "echo hi"}
    suite.write_text(yaml.safe_dump(parsed, sort_keys=False))
    with pytest.raises(recipe.RecipeError) as caught:
        build(tree)
    found = " | ".join(caught.value.problems)
    assert "recipes/ holds" in found and "no Lifecycle, no Artifacts" in found
