"""`python -m cloud.greengrass deploy --thing-group NAME --site FILE [--dry-run]`.

A site file (YAML, example in sites/example.yaml) says which nucleus the thing group runs
(`nucleus: classic` or `lite`, the profile below) and what one site runs: component versions,
configuration `merge` and `reset` per component, the rollout (iotJobConfiguration), timeouts,
and tags. The request always asks for failureHandlingPolicy ROLLBACK: a device that fails the
deployment goes back to what it ran before. `site` becomes `siteId` in every floorline
component that has that key.

Checked before anything is sent, so a typo fails here and not on a device:
- every key of the site file is known;
- a floorline component merges only keys its recipe defines, never `accessControl` (a site
  cannot widen a component's rights), and resets only existing keys;
- the configuration a device would end up with passes the component's typed Spec, when the
  component declares one (cloud/greengrass/specs.py);
- the request satisfies botocore's model of greengrassv2 CreateDeployment;
- the deployment fits the nucleus profile (`PROFILES`): on the classic nucleus an uplink with
  `useKinesis` needs `aws.greengrass.StreamManager` in the same deployment; nucleus lite
  (`aws.greengrass.NucleusLite`) runs no Stream Manager, ShadowManager or other Java plugin, so
  the uplink gets `useKinesis: false` (raw readings go to IoT Core in batches) and batches that
  fit lite's 10,000-byte IPC message (`iotMaxMessageBytes` at most LITE_IOT_PAYLOAD_MAX_BYTES).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from cloud.greengrass import layout, recipe
from cloud.greengrass.profiles import (
    CLASSIC,
    STREAM_MANAGER,
    UPLINK,
    NucleusProfile,
    profile_named,
    uplink_forced,
)
from cloud.greengrass.project import ProjectError, component_sources
from cloud.greengrass.specs import component_spec
from components.core.config import NUCLEUS_KEYS, ConfigError, Spec

FAILURE_HANDLING = "ROLLBACK"
COMPONENT_UPDATE_ACTION = "NOTIFY_COMPONENTS"
_TOP_KEYS = {
    "site",
    "nucleus",
    "region",
    "deploymentName",
    "components",
    "rollout",
    "timeouts",
    "tags",
}
_COMPONENT_KEYS = {"version", "merge", "reset"}
_ROLLOUT_KEYS = {"maximumPerMinute", "exponentialRate", "abortCriteria", "inProgressTimeoutMinutes"}
_TIMEOUT_KEYS = {"componentUpdateSeconds", "configurationValidationSeconds"}
_THING_GROUP = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")
_SITE = re.compile(r"^[A-Za-z0-9_:-]{1,128}$")  # a topic segment (components/core/topics.py)


class SiteFileError(ProjectError):
    """A site file that would deploy something unintended; names the file and the key."""


@dataclass(frozen=True)
class ComponentDeployment:
    version: str
    merge: dict[str, Any] = field(default_factory=dict)
    reset: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SiteDeployment:
    path: Path
    site: str
    nucleus: str
    region: str | None
    deployment_name: str
    components: dict[str, ComponentDeployment]
    rollout: dict[str, Any]
    timeouts: dict[str, int]
    tags: dict[str, str]


def _unknown(where: str, given: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(str(k) for k in set(given) - known)
    if extra:
        raise SiteFileError(f"{where}: unknown key(s) {extra}; known: {sorted(known)}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SiteFileError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def floorline_defaults(root: Path) -> dict[str, dict[str, Any]]:
    """DefaultConfiguration of every floorline component by name ({} for the suite)."""
    defaults = {}
    for source in component_sources(root):
        parsed = recipe.load(source.recipe_path)[1]
        defaults[source.name] = recipe.default_configuration(parsed) if source.package else {}
    return defaults


def floorline_specs(root: Path) -> dict[str, Spec[Any]]:
    """Typed configuration of every floorline component that declares one, by name."""
    found = {}
    for source in component_sources(root):
        spec = component_spec(source.package) if source.package else None
        if spec is not None:
            found[source.name] = spec
    return found


def _deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Greengrass merge semantics: objects merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_values(
    where: str, name: str, spec: Spec[Any], defaults: Mapping[str, Any], change: ComponentDeployment
) -> None:
    """The configuration a device would end up with must pass the component's own Spec."""
    config = {k: v for k, v in defaults.items() if k not in NUCLEUS_KEYS}
    if "" in change.reset:
        config = {}
    config = _deep_merge(config, change.merge)
    try:
        spec.parse(config)
    except ConfigError as exc:
        raise SiteFileError(f"{where}: {name} configuration rejected: {exc}") from exc


@functools.cache
def _create_deployment_shape() -> Any:
    model = botocore.session.get_session().get_service_model("greengrassv2")
    return model.operation_model("CreateDeployment").input_shape


def _check_floorline(where: str, name: str, spec: ComponentDeployment, keys: set[str]) -> None:
    if "accessControl" in spec.merge:
        raise SiteFileError(f"{where}: {name} merge sets accessControl; rights live in recipes")
    unknown = sorted(set(spec.merge) - keys)
    if unknown:
        raise SiteFileError(f"{where}: {name} has no configuration key(s) {unknown}")
    for pointer in spec.reset:
        first = pointer.split("/")[1] if pointer.startswith("/") else None
        if pointer != "" and first not in keys:
            raise SiteFileError(f"{where}: {name} reset {pointer!r} names no configuration key")


def load_site(
    path: Path,
    root: Path = layout.REPO_ROOT,
    *,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    specs: Mapping[str, Spec[Any]] | None = None,
) -> SiteDeployment:
    """Read and check a site file; `defaults` and `specs` (from floorline_defaults and
    floorline_specs) save re-reading them for many files."""
    where = str(path)
    try:
        data = _mapping(yaml.safe_load(path.read_text(encoding="utf-8")), where)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SiteFileError(f"{where}: cannot read ({exc})") from exc
    _unknown(where, data, _TOP_KEYS)
    site = str(data.get("site", ""))
    if not _SITE.match(site):
        raise SiteFileError(f"{where}: site {site!r} must be 1-128 of A-Z a-z 0-9 _ : -")
    nucleus = str(data.get("nucleus", CLASSIC))
    try:
        profile = profile_named(nucleus)
    except ValueError as exc:
        raise SiteFileError(f"{where}: {exc}") from None
    defaults = floorline_defaults(root) if defaults is None else defaults
    specs = floorline_specs(root) if specs is None else specs
    components: dict[str, ComponentDeployment] = {}
    for name, raw in _mapping(data.get("components"), f"{where} components").items():
        if not isinstance(name, str):
            raise SiteFileError(f"{where}: component name {name!r} is not a string")
        spec = _mapping(raw, f"{where} {name}")
        _unknown(f"{where} {name}", spec, _COMPONENT_KEYS)
        version = str(spec.get("version", ""))
        if not layout.is_semver(version):
            raise SiteFileError(f"{where}: {name} version {version!r} is not an exact semver")
        reset = spec.get("reset") or []
        if not isinstance(reset, list) or not all(isinstance(p, str) for p in reset):
            raise SiteFileError(f"{where}: {name} reset must be a list of JSON pointers")
        merge = dict(_mapping(spec.get("merge"), f"{where} {name} merge"))
        if name.startswith(profile.refused_prefixes):
            raise SiteFileError(f"{where}: {name} cannot run on nucleus {nucleus}")
        if name == UPLINK:
            merge = _uplink_for_profile(where, profile, merge, defaults.get(name) or {})
        try:  # Greengrass configuration is JSON: no dates, no NaN, string keys only
            json.dumps(merge, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise SiteFileError(f"{where}: {name} merge is not plain JSON ({exc})") from exc
        if defaults.get(name):
            proposed = ComponentDeployment(version, merge, reset)
            _check_floorline(where, name, proposed, set(defaults[name]))
            if "siteId" in defaults[name]:
                if merge.get("siteId", site) != site:
                    raise SiteFileError(f"{where}: {name} siteId differs from site {site!r}")
                merge["siteId"] = site
            if name in specs:
                _check_values(where, name, specs[name], defaults[name], proposed)
        elif name.startswith(layout.NAME_PREFIX) and name not in defaults:
            raise SiteFileError(f"{where}: {name} is not a floorline component")
        components[name] = ComponentDeployment(version, merge, list(reset))
    if not components:
        raise SiteFileError(f"{where}: no components")
    uplink = components.get(UPLINK)
    if (
        uplink is not None
        and nucleus == CLASSIC
        and _effective(uplink, defaults.get(UPLINK) or {}, "useKinesis")
        and STREAM_MANAGER not in components
    ):
        raise SiteFileError(
            f"{where}: the uplink sends raw readings through Stream Manager (useKinesis): add "
            f"{STREAM_MANAGER} to the components, or merge useKinesis: false"
        )
    rollout = _mapping(data.get("rollout"), f"{where} rollout")
    _unknown(f"{where} rollout", rollout, _ROLLOUT_KEYS)
    timeouts = _mapping(data.get("timeouts"), f"{where} timeouts")
    _unknown(f"{where} timeouts", timeouts, _TIMEOUT_KEYS)
    for key, value in timeouts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SiteFileError(f"{where}: timeouts {key} must be a whole number of seconds")
    abort = rollout.get("abortCriteria", [])
    if not isinstance(abort, list):
        raise SiteFileError(f"{where}: rollout abortCriteria must be a list")
    return SiteDeployment(
        path=path,
        site=site,
        nucleus=nucleus,
        region=str(data["region"]) if data.get("region") else None,
        deployment_name=str(data.get("deploymentName") or f"floorline-{site}"),
        components=components,
        rollout=rollout,
        timeouts=dict(timeouts),
        tags={str(k): str(v) for k, v in _mapping(data.get("tags"), f"{where} tags").items()},
    )


def _effective(spec: ComponentDeployment, defaults: Mapping[str, Any], key: str) -> Any:
    if key in spec.merge:
        return spec.merge[key]
    return defaults.get(key)


def _uplink_for_profile(
    where: str, profile: NucleusProfile, merge: dict[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The uplink's merge with what the profile forces; a site asking otherwise is refused."""
    for key, value in profile.uplink_merge.items():
        if key in merge and merge[key] != value:
            raise SiteFileError(
                f"{where}: on nucleus {profile.name} the uplink needs {key}: {value}"
            )
    for key, maximum in profile.uplink_maxima.items():
        if isinstance(merge.get(key), int) and merge[key] > maximum:
            raise SiteFileError(
                f"{where}: on nucleus {profile.name} the uplink's {key} is at most {maximum}"
            )
    return {**merge, **uplink_forced(profile, {**defaults, **merge})}


def thing_group_arn(partition: str, region: str, account: str, thing_group: str) -> str:
    if not _THING_GROUP.match(thing_group):
        raise SiteFileError(f"thing group {thing_group!r} is not a valid thing group name")
    return f"arn:{partition}:iot:{region}:{account}:thinggroup/{thing_group}"


def _iot_job_configuration(rollout: Mapping[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = {}
    executions = {k: rollout[k] for k in ("maximumPerMinute", "exponentialRate") if k in rollout}
    if executions:
        job["jobExecutionsRolloutConfig"] = executions
    if rollout.get("abortCriteria"):
        job["abortConfig"] = {"criteriaList": list(rollout["abortCriteria"])}
    if "inProgressTimeoutMinutes" in rollout:
        job["timeoutConfig"] = {"inProgressTimeoutInMinutes": rollout["inProgressTimeoutMinutes"]}
    return job


def _policies(timeouts: Mapping[str, int]) -> dict[str, Any]:
    policies: dict[str, Any] = {"failureHandlingPolicy": FAILURE_HANDLING}
    if "componentUpdateSeconds" in timeouts:
        policies["componentUpdatePolicy"] = {
            "timeoutInSeconds": timeouts["componentUpdateSeconds"],
            "action": COMPONENT_UPDATE_ACTION,
        }
    if "configurationValidationSeconds" in timeouts:
        policies["configurationValidationPolicy"] = {
            "timeoutInSeconds": timeouts["configurationValidationSeconds"]
        }
    return policies


def deployment_request(
    site: SiteDeployment, *, thing_group: str, region: str, account: str, partition: str = "aws"
) -> dict[str, Any]:
    """The CreateDeployment parameters, validated against botocore's service model."""
    components: dict[str, Any] = {}
    for name, spec in sorted(site.components.items()):
        entry: dict[str, Any] = {"componentVersion": spec.version}
        update: dict[str, Any] = {}
        if spec.merge:
            update["merge"] = json.dumps(spec.merge, sort_keys=True, separators=(",", ":"))
        if spec.reset:
            update["reset"] = list(spec.reset)
        if update:
            entry["configurationUpdate"] = update
        components[name] = entry
    request: dict[str, Any] = {
        "targetArn": thing_group_arn(partition, region, account, thing_group),
        "deploymentName": site.deployment_name,
        "components": components,
        "deploymentPolicies": _policies(site.timeouts),
    }
    job = _iot_job_configuration(site.rollout)
    if job:
        request["iotJobConfiguration"] = job
    if site.tags:
        request["tags"] = dict(site.tags)
    try:
        validate_parameters(request, _create_deployment_shape())
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (ParamValidationError, TypeError, ValueError) as exc:
        raise SiteFileError(f"{site.path}: the deployment request is invalid: {exc}") from exc
    # Idempotency: the same site file sent twice makes one deployment.
    request["clientToken"] = hashlib.sha256(canonical.encode()).hexdigest()[:64]
    return request


def create_deployment(greengrass: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    return dict(greengrass.create_deployment(**request))
