"""Recipes: load, check, stamp and write them the way `gdk component build` does.

Checks are the build's own gate (a recipe that fails one is never built) and the tests reuse
them: size within RECIPE_MAX_BYTES (GDK measures the source file, comments included, and the
built file), canonical lifecycle (offline venv Install with Timeout 900, Run of the component's
module), linux aarch64 and amd64 manifests only, the code zip and the platform's wheels zip,
camelCase configuration keys each with a comment, and least-privilege access control
(see access.py).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from cloud.greengrass import access, layout, nucleus_check
from cloud.greengrass.project import ComponentSource
from components.core.config import NUCLEUS_KEYS, ConfigError, Spec
from components.core.limits import RECIPE_MAX_BYTES

RECIPE_FORMAT_VERSION: Final = "2020-01-25"
PLATFORMS: Final = (("linux", "aarch64"), ("linux", "amd64"))
INSTALL_TIMEOUT_S: Final = 900
DEPENDENCY_TYPES: Final = frozenset({"HARD", "SOFT"})
VENV_PYTHON: Final = "{work:path}/venv/bin/python"
# The code's folder. Run starts Python from it (`python -m` puts the working directory first on
# sys.path): a PYTHONPATH from Setenv never arrives, because the classic nucleus starts steps
# with `sudo -E -u <user>` and sudo deletes PYTHONPATH even then (sudoers' env_delete).
CODE_DIR: Final = f"{{artifacts:decompressedPath}}/{layout.ARTIFACT_ROOT}"
# Configuration key holding pip's index options for Install: `--no-index` (offline, from the
# wheels the artifact carries) unless a site names its own index or proxy.
PIP_INDEX_OPTIONS_KEY: Final = "pipIndexOptions"
PIP_INDEX_OPTIONS_DEFAULT: Final = "--no-index"
# The one component whose Run is root (it prepares the device: groups, log folder); every other
# step of every component runs as the component user.
PRIVILEGED_PACKAGE: Final = "device_prep"
# Keys as nucleus lite spells them (it reads keys case-sensitively; the classic nucleus reads
# them in any case): nucleus_check.py refuses any other spelling.
INSTALL: Final = "install"
RUN: Final = "run"
ARTIFACT_URI_KEY: Final = "Uri"
ARTIFACT_URI: Final = f"{layout.URI_PLACEHOLDER_PREFIX}{layout.ARTIFACT_ZIP}"


def install_script(arch: str) -> str:
    """A venv without pip (no python3-venv needed), then the pip the artifact carries installs
    the artifact's wheels: no package index, unless pipIndexOptions names one."""
    wheels = f"{{artifacts:decompressedPath}}/{layout.wheels_root(arch)}"
    return (
        "python3 -m venv --without-pip --system-site-packages {work:path}/venv && "
        f"{VENV_PYTHON} {wheels}/{layout.INSTALLER_WHEEL}/pip install --no-cache-dir "
        f"--disable-pip-version-check {{configuration:/{PIP_INDEX_OPTIONS_KEY}}} "
        f"--find-links {wheels} --requirement {wheels}/{layout.REQUIREMENTS_FILE}"
    )


def artifact_uris_for(arch: str) -> list[str]:
    """The artifacts of a manifest: the code, then the platform's wheels."""
    return [ARTIFACT_URI, f"{layout.URI_PLACEHOLDER_PREFIX}{layout.wheels_zip(arch)}"]


_CONFIG_KEY = re.compile(r"^[a-z][A-Za-z0-9]*$")


class RecipeError(ValueError):
    """A recipe that must not be built or published; `.problems` lists every finding."""

    def __init__(self, where: str | Path, problems: Iterable[str]) -> None:
        self.where = str(where)
        self.problems = list(problems)
        super().__init__(f"{self.where}: " + "; ".join(self.problems))


class RecipeTooLarge(RecipeError):
    def __init__(self, where: str | Path, size_bytes: int) -> None:
        super().__init__(where, [f"{size_bytes} bytes, Greengrass allows {RECIPE_MAX_BYTES}"])
        self.size_bytes = size_bytes


def check_size(where: str | Path, data: bytes) -> None:
    if len(data) > RECIPE_MAX_BYTES:
        raise RecipeTooLarge(where, len(data))


def load(path: Path) -> tuple[str, dict[str, Any]]:
    """The source text (for the comment checks) and the parsed recipe, size checked first."""
    data = path.read_bytes()
    check_size(path, data)
    try:
        text = data.decode("utf-8")
        recipe = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RecipeError(path, [f"not valid UTF-8 YAML: {exc}"]) from exc
    if not isinstance(recipe, dict):
        raise RecipeError(path, ["not a mapping"])
    return text, recipe


class _NoAliasDumper(yaml.SafeDumper):
    """Anchors in a source recipe become plain copies, as in GDK's output."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(recipe: Mapping[str, Any]) -> bytes:
    """YAML as GDK writes it (safe_dump, keys in recipe order)."""
    return yaml.dump(dict(recipe), Dumper=_NoAliasDumper, sort_keys=False).encode("utf-8")


def run_script(package: str, args: str = "") -> str:
    return f"cd {CODE_DIR} && exec {VENV_PYTHON} -m components.{package}{args}"


def default_configuration(recipe: Mapping[str, Any]) -> dict[str, Any]:
    config = recipe.get("ComponentConfiguration") or {}
    return dict(config.get("DefaultConfiguration") or {})


def artifact_uris(recipe: Mapping[str, Any]) -> list[str]:
    return [
        str(artifact.get(ARTIFACT_URI_KEY, ""))
        for manifest in recipe.get("Manifests") or []
        for artifact in manifest.get("Artifacts") or []
    ]


def undocumented_keys(source_text: str) -> list[str]:
    """Top-level DefaultConfiguration keys with no comment on the line before or on the line."""
    lines = source_text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.strip() == "DefaultConfiguration:"), None
    )
    if start is None:
        return []
    parent_indent = len(lines[start]) - len(lines[start].lstrip())
    key_indent = None
    missing = []
    previous = lines[start]
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= parent_indent:
            break
        if key_indent is None:
            key_indent = indent if not stripped.startswith("#") else None
        match = re.match(r"^([A-Za-z][A-Za-z0-9]*):", stripped)
        if indent == key_indent and match and match.group(1) != "accessControl":
            if not previous.strip().startswith("#") and " #" not in stripped:
                missing.append(match.group(1))
        previous = line
    return missing


def _platform_problems(recipe: Mapping[str, Any]) -> list[str]:
    manifests = recipe.get("Manifests")
    if not isinstance(manifests, list) or not manifests:
        return ["no Manifests"]
    seen = []
    for manifest in manifests:
        platform = manifest.get("Platform") or {}
        seen.append((platform.get("os"), platform.get("architecture")))
    if sorted(seen) != sorted(PLATFORMS):
        return [f"manifests for {seen}, expected exactly {list(PLATFORMS)}"]
    return []


def _lifecycle_problems(recipe: Mapping[str, Any], package: str) -> list[str]:
    problems = []
    for manifest in recipe.get("Manifests") or []:
        arch = (manifest.get("Platform") or {}).get("architecture")
        lifecycle = manifest.get("Lifecycle") or {}
        install = lifecycle.get(INSTALL) or {}
        if not isinstance(install, dict) or install.get("Script") != install_script(str(arch)):
            problems.append(f"{arch}: Install script is not the offline venv install")
        elif int(install.get("Timeout", 120)) < INSTALL_TIMEOUT_S:
            problems.append(f"{arch}: Install Timeout below {INSTALL_TIMEOUT_S} s")
        run = lifecycle.get(RUN) or {}
        script = run.get("Script", "") if isinstance(run, dict) else str(run)
        expected = run_script(package)
        if not (script == expected or script.startswith(expected + " ")):
            problems.append(f"{arch}: Run is {script!r}, expected {expected!r}")
        if "PYTHONPATH" in (lifecycle.get("Setenv") or {}):
            problems.append(f"{arch}: Setenv PYTHONPATH never reaches the component (sudo)")
        for step in (INSTALL, RUN):
            privileged = isinstance(lifecycle.get(step), dict) and bool(
                lifecycle[step].get("RequiresPrivilege")
            )
            wanted = step == RUN and package == PRIVILEGED_PACKAGE
            if privileged != wanted:
                problems.append(f"{arch}: {step} must {'' if wanted else 'not '}require privilege")
        artifacts = manifest.get("Artifacts") or []
        expected_uris = artifact_uris_for(str(arch))
        if [(a.get(ARTIFACT_URI_KEY), str(a.get("Unarchive", "")).upper()) for a in artifacts] != [
            (uri, "ZIP") for uri in expected_uris
        ]:
            problems.append(f"{arch}: artifacts must be exactly {expected_uris} (Unarchive ZIP)")
    if default_configuration(recipe).get(PIP_INDEX_OPTIONS_KEY) != PIP_INDEX_OPTIONS_DEFAULT:
        problems.append(f"{PIP_INDEX_OPTIONS_KEY} must default to {PIP_INDEX_OPTIONS_DEFAULT!r}")
    return problems


def _dependency_problems(recipe: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, dep in (recipe.get("ComponentDependencies") or {}).items():
        if not isinstance(dep, dict) or not dep.get("VersionRequirement"):
            problems.append(f"dependency {name} has no VersionRequirement")
        elif dep.get("DependencyType", "HARD") not in DEPENDENCY_TYPES:
            problems.append(f"dependency {name}: DependencyType {dep.get('DependencyType')!r}")
    return problems


def problems(
    source: ComponentSource,
    recipe: Mapping[str, Any],
    source_text: str,
    device_components: Iterable[str] = (),
) -> list[str]:
    """Every finding against a source recipe; empty when it may be built."""
    found = []
    if recipe.get("RecipeFormatVersion") != RECIPE_FORMAT_VERSION:
        found.append(f"RecipeFormatVersion must be {RECIPE_FORMAT_VERSION}")
    if recipe.get("ComponentName") != source.name:
        found.append(f"ComponentName {recipe.get('ComponentName')!r}, file says {source.name}")
    found += _platform_problems(recipe) + _dependency_problems(recipe)
    config = default_configuration(recipe)
    for key in config:
        if key != "accessControl" and not _CONFIG_KEY.match(key):
            found.append(f"configuration key {key!r} is not camelCase")
    found += [f"configuration key {key!r} has no comment" for key in undocumented_keys(source_text)]
    found += access.problems(source, config.get("accessControl") or {})
    found += nucleus_check.problems(recipe, len(dump(recipe)))
    if source.package is not None:
        found += _lifecycle_problems(recipe, source.package)
    else:
        deps = set(recipe.get("ComponentDependencies") or {})
        if deps != set(device_components):
            found.append(
                f"suite depends on {sorted(deps)}, recipes/ holds {sorted(device_components)}"
            )
        if any(m.get("Lifecycle") or m.get("Artifacts") for m in recipe.get("Manifests") or []):
            found.append("the suite has no code: no Lifecycle, no Artifacts")
    return found


class UnknownArtifact(RecipeError):
    """An s3:// URI names a file the build did not produce (GDK would look for it on S3)."""


def _rewrite_uris(recipe: dict[str, Any], files: Iterable[str], prefix: str, where: str) -> None:
    built = set(files)
    for manifest in recipe.get("Manifests") or []:
        for artifact in manifest.get("Artifacts") or []:
            uri = str(artifact.get(ARTIFACT_URI_KEY, ""))
            if not uri.startswith("s3://"):
                continue
            file_name = uri.rsplit("/", 1)[-1]
            if file_name not in built:
                raise UnknownArtifact(where, [f"artifact {uri} was not built"])
            artifact[ARTIFACT_URI_KEY] = f"{prefix}{file_name}"


def stamp(
    recipe: Mapping[str, Any],
    *,
    name: str,
    version: str,
    publisher: str,
    artifact_files: Iterable[str],
    dependency_versions: Mapping[str, str] | None = None,
    uri_prefix: str = layout.URI_PLACEHOLDER_PREFIX,
) -> dict[str, Any]:
    """A copy stamped as GDK stamps it: name, version, publisher and artifact URIs.

    `dependency_versions` pins the suite's dependencies to the versions built with it.
    """
    stamped = copy.deepcopy(dict(recipe))
    stamped["ComponentName"] = name
    stamped["ComponentVersion"] = version
    stamped["ComponentPublisher"] = publisher
    _rewrite_uris(stamped, artifact_files, uri_prefix, name)
    for dep_name, dep_version in (dependency_versions or {}).items():
        stamped["ComponentDependencies"][dep_name]["VersionRequirement"] = f"={dep_version}"
    return stamped


def publish_uri_prefix(bucket: str, name: str, version: str) -> str:
    return f"s3://{bucket}/{name}/{version}/"


def spec_mismatches(defaults: Mapping[str, Any], spec: Spec[Any]) -> list[str]:
    """Differences between a recipe's DefaultConfiguration and a component's typed Spec."""
    ours = {k: v for k, v in defaults.items() if k not in NUCLEUS_KEYS}
    found = [f"{k}: in the recipe, not in the Spec" for k in sorted(set(ours) - set(spec.keys))]
    found += [f"{k}: in the Spec, not in the recipe" for k in sorted(set(spec.keys) - set(ours))]
    try:
        parsed = spec.parse({k: v for k, v in ours.items() if k in spec.keys})
    except ConfigError as exc:
        rejected = exc.errors.items()
        return found + [f"{k}: the Spec rejects the recipe default ({r})" for k, r in rejected]
    expected = spec.parse({})  # the defaults as parsed (nested entries become objects)
    found += [
        f"{k}: recipe default {ours[k]!r}, Spec default {getattr(expected, k)!r}"
        for k in sorted(set(ours) & set(spec.keys))
        if getattr(parsed, k) != getattr(expected, k)
    ]
    return found
