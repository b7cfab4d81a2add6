"""Recipes as the nuclei read them: what the classic nucleus or nucleus lite would refuse or
misread, found before anything is built.

The classic nucleus (aws-greengrass-nucleus) reads recipe keys case-insensitively; nucleus lite
2.6.0 (aws-greengrass-lite, `modules/ggl-recipe`, `recipe-runner`, `ggdeploymentd`) reads them
exactly as spelled, so a recipe in lite's spelling means the same on both. Findings:

- keys not in lite's spelling (`Lifecycle` phases `install`/`run`/..., step keys `Script`,
  `Setenv`, `Timeout`, `RequiresPrivilege`, artifact keys `Uri`, `Unarchive`, ...), and what lite
  does not support (`shutdown`, `recover`, `Skipif`);
- a Platform without `runtime` `"*"` or `"aws_nucleus_lite"` (lite skips the manifest);
- accessControl resources either nucleus misreads: `+`/`#` in a local pub/sub resource (plain
  characters there), `{iot:thingName}` (substituted by neither by default), `${` other than
  `${*}`, `${?}`, `${$}` and a bare `?` (classic refuses the resource, lite reads it otherwise);
  operations or resources that are not lists of strings (lite then refuses every call);
- a recipe longer than recipe-runner reads (`LITE_RECIPE_MAX_BYTES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from components.core.limits import LITE_RECIPE_MAX_BYTES

PUBSUB: Final = "aws.greengrass.ipc.pubsub"
THING_VARIABLE: Final = "{iot:thingName}"
LITE_RUNTIMES: Final = frozenset({"*", "aws_nucleus_lite"})

TOP_KEYS: Final = frozenset(
    {
        "RecipeFormatVersion",
        "ComponentName",
        "ComponentVersion",
        "ComponentType",
        "ComponentDescription",
        "ComponentPublisher",
        "ComponentConfiguration",
        "ComponentDependencies",
        "Manifests",
    }
)
CONFIGURATION_KEYS: Final = frozenset({"DefaultConfiguration"})
DEPENDENCY_KEYS: Final = frozenset({"VersionRequirement", "DependencyType"})
MANIFEST_KEYS: Final = frozenset({"Platform", "Lifecycle", "Artifacts", "Name"})
PLATFORM_KEYS: Final = frozenset({"os", "architecture", "runtime"})
PHASES: Final = frozenset({"install", "run", "startup", "bootstrap"})
LIFECYCLE_KEYS: Final = PHASES | {"Setenv"}
STEP_KEYS: Final = frozenset({"Script", "Setenv", "Timeout", "RequiresPrivilege"})
ARTIFACT_KEYS: Final = frozenset({"Uri", "Unarchive", "Permission", "Digest", "Algorithm"})
UNSUPPORTED_BY_LITE: Final = frozenset({"shutdown", "recover", "skipif"})


def _spelling(keys: Any, allowed: frozenset[str], where: str) -> list[str]:
    if not isinstance(keys, Mapping):
        return []
    found = []
    by_folded = {k.casefold(): k for k in allowed}
    for key in keys:
        text = str(key)
        if text in allowed:
            continue
        if text.casefold() in UNSUPPORTED_BY_LITE:
            found.append(f"{where}{text}: not supported by nucleus lite")
        elif text.casefold() in by_folded:
            spelled = by_folded[text.casefold()]
            found.append(f"{where}{text}: nucleus lite reads keys as spelled; write {spelled}")
        else:
            found.append(f"{where}{text}: a key neither nucleus knows here")
    return found


def _lifecycle(lifecycle: Any, where: str) -> list[str]:
    found = _spelling(lifecycle, LIFECYCLE_KEYS, where)
    for phase in PHASES:
        step = lifecycle.get(phase) if isinstance(lifecycle, Mapping) else None
        if isinstance(step, Mapping):
            found += _spelling(step, STEP_KEYS, f"{where}{phase}.")
            if "Script" not in step:
                found.append(f"{where}{phase}: no Script (recipe-runner needs one)")
    return found


def key_problems(recipe: Mapping[str, Any]) -> list[str]:
    found = _spelling(recipe, TOP_KEYS, "")
    found += _spelling(
        recipe.get("ComponentConfiguration"), CONFIGURATION_KEYS, "ComponentConfiguration."
    )
    for name, dependency in (recipe.get("ComponentDependencies") or {}).items():
        found += _spelling(dependency, DEPENDENCY_KEYS, f"ComponentDependencies.{name}.")
    for i, manifest in enumerate(recipe.get("Manifests") or []):
        where = f"Manifests[{i}]."
        found += _spelling(manifest, MANIFEST_KEYS, where)
        if not isinstance(manifest, Mapping):
            continue
        platform = manifest.get("Platform") or {}
        found += _spelling(platform, PLATFORM_KEYS, f"{where}Platform.")
        if isinstance(platform, Mapping) and platform.get("runtime") not in LITE_RUNTIMES:
            found.append(
                f"{where}Platform: runtime {platform.get('runtime')!r}; nucleus lite skips a "
                f'manifest without runtime "*" (both nuclei) or "aws_nucleus_lite"'
            )
        found += _lifecycle(manifest.get("Lifecycle") or {}, f"{where}Lifecycle.")
        for j, artifact in enumerate(manifest.get("Artifacts") or []):
            found += _spelling(artifact, ARTIFACT_KEYS, f"{where}Artifacts[{j}].")
    return found


def _resource_problems(service: str, policy_id: str, resource: str) -> list[str]:
    found = []
    where = f"accessControl {policy_id}: resource {resource!r}"
    if THING_VARIABLE in resource:
        found.append(
            f"{where} relies on {THING_VARIABLE}, substituted by neither nucleus by default "
            "(classic only with interpolateComponentConfiguration, lite never); scope the "
            "thing in the cloud's IoT policy"
        )
    if service == PUBSUB and ("+" in resource or "#" in resource):
        found.append(
            f"{where}: '+' and '#' are plain characters in local pub/sub resources on both "
            "nuclei; use the glob '*'"
        )
    i = 0
    while i < len(resource):
        if resource.startswith("${", i):
            if len(resource) > i + 3 and resource[i + 2] in "*?$" and resource[i + 3] == "}":
                i += 4
                continue
            found.append(f"{where}: only ${{*}}, ${{?}} and ${{$}} mean the same on both nuclei")
            break
        if resource[i] == "?":
            found.append(f"{where}: a bare '?' (classic refuses the resource; write ${{?}})")
            break
        i += 1
    return found


def access_problems(access_control: Any) -> list[str]:
    if access_control is None:
        return []
    if not isinstance(access_control, Mapping):
        return ["accessControl is not a map"]
    found = []
    for service, policies in access_control.items():
        if not isinstance(policies, Mapping):
            found.append(f"accessControl {service}: not a map of policies")
            continue
        for policy_id, policy in policies.items():
            if not isinstance(policy, Mapping):
                found.append(f"accessControl {policy_id}: not a map")
                continue
            for key in ("operations", "resources"):
                value = policy.get(key)
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    found.append(
                        f"accessControl {policy_id}: {key} must be a list of strings (nucleus "
                        "lite refuses every call of that service otherwise)"
                    )
            for resource in policy.get("resources") or []:
                found += _resource_problems(str(service), str(policy_id), str(resource))
    return found


def problems(recipe: Mapping[str, Any], built_size_bytes: int) -> list[str]:
    """Everything either nucleus would refuse or misread in one recipe."""
    configuration = (recipe.get("ComponentConfiguration") or {}).get("DefaultConfiguration") or {}
    found = key_problems(recipe) + access_problems(configuration.get("accessControl"))
    if built_size_bytes > LITE_RECIPE_MAX_BYTES:
        found.append(
            f"the built recipe is {built_size_bytes} bytes; nucleus lite's recipe-runner reads "
            f"{LITE_RECIPE_MAX_BYTES}"
        )
    return found
