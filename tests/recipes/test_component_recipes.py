"""The recipes as committed: size, platforms, lifecycle, keys, dependencies, limits, and
least-privilege access control spelled from components/core/topics.py."""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from cloud.greengrass import access, layout, recipe
from cloud.greengrass.build import check_sources
from cloud.greengrass.project import ComponentSource, component_sources, read_gdk_settings
from cloud.greengrass.specs import component_spec
from components.core import limits, topics
from components.core.config import Spec, setting
from edge_sim.nucleus.access import FLAVOURS, MQTT_PROXY, PUBSUB, resource_matcher

ROOT = layout.REPO_ROOT
SOURCES = component_sources(ROOT)
DEVICE = [s for s in SOURCES if s.package is not None]
EXPECTED_COMPONENTS = {
    "Analytics",
    "Console",
    "DevicePrep",
    "HttpIngest",
    "Rfid",
    "Sensors",
    "Uplink",
}


def _load(source: ComponentSource) -> tuple[str, dict[str, Any]]:
    return recipe.load(source.recipe_path)


def _defaults(key: str) -> dict[str, Any]:
    source = next(s for s in DEVICE if s.key == key)
    return recipe.default_configuration(_load(source)[1])


def test_one_recipe_per_component() -> None:
    assert {s.key for s in DEVICE} == EXPECTED_COMPONENTS
    assert {s.name for s in DEVICE} == {f"com.floorline.{k}" for k in EXPECTED_COMPONENTS}


def test_every_recipe_passes_the_build_checks() -> None:
    check_sources(SOURCES)  # raises RecipeError listing every finding


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.key)
def test_size_within_the_greengrass_limit(source: ComponentSource) -> None:
    text, parsed = _load(source)
    assert len(text.encode()) <= limits.RECIPE_MAX_BYTES  # GDK measures the source file
    stamped = recipe.dump(parsed)
    assert len(stamped) <= limits.RECIPE_MAX_BYTES


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.key)
def test_platforms_are_64_bit_linux_only(source: ComponentSource) -> None:
    _, parsed = _load(source)
    platforms = sorted(
        (m["Platform"]["os"], m["Platform"]["architecture"]) for m in parsed["Manifests"]
    )
    assert platforms == [("linux", "aarch64"), ("linux", "amd64")]
    # Greengrass spells 64-bit ARM "aarch64", never "arm64"; 32-bit arm is left out on purpose.
    assert not {"arm", "arm64", "x86", "armv7l"} & {a for _, a in platforms}


@pytest.mark.parametrize("source", DEVICE, ids=lambda s: s.key)
def test_every_configuration_key_is_documented(source: ComponentSource) -> None:
    text, parsed = _load(source)
    assert recipe.undocumented_keys(text) == []
    assert recipe.default_configuration(parsed)  # and there is configuration to document


def test_the_comment_check_can_fail() -> None:
    text = "Cfg:\n  DefaultConfiguration:\n    # a\n    aKey: 1\n    bKey: 2\n    cKey: 3  # c\n"
    assert recipe.undocumented_keys(text) == ["bKey"]


@pytest.mark.parametrize("source", DEVICE, ids=lambda s: s.key)
def test_install_and_run(source: ComponentSource) -> None:
    _, parsed = _load(source)
    for manifest in parsed["Manifests"]:
        lifecycle = manifest["Lifecycle"]
        assert lifecycle["install"]["Timeout"] == 900
        assert "requirements.txt" in lifecycle["install"]["Script"]
        assert f"-m components.{source.package}" in lifecycle["run"]["Script"]
        # Only DevicePrep (groups, log folder) runs as root.
        assert lifecycle["run"].get("RequiresPrivilege", False) is (source.key == "DevicePrep")
        assert not lifecycle["install"].get("RequiresPrivilege")


def test_every_component_waits_for_device_prep() -> None:
    for source in DEVICE:
        if source.key == "DevicePrep":
            continue
        deps = _load(source)[1]["ComponentDependencies"]
        assert deps["com.floorline.DevicePrep"]["DependencyType"] == "HARD", source.key


def test_device_prep_makes_the_folder_of_the_shared_log() -> None:
    folder = os.path.dirname(_defaults("Sensors")["logPath"])
    assert _defaults("DevicePrep")["logFolder"] == folder


def test_the_shared_log_settings_agree() -> None:
    shared = ("logPath", "logBudgetBytes", "freeDiskFloorBytes")
    values = {
        s.key: tuple(_defaults(s.key)[k] for k in shared) for s in DEVICE if s.key != "DevicePrep"
    }
    assert len(set(values.values())) == 1, values


def test_uplink_has_no_dependency_nucleus_lite_cannot_meet() -> None:
    """Stream Manager and ShadowManager do not exist on nucleus lite: Stream Manager comes with
    the classic deployment profile (cloud/greengrass/deploy.py), the shadow goes through its
    MQTT topics."""
    _, parsed = _load(next(s for s in DEVICE if s.key == "Uplink"))
    assert set(parsed["ComponentDependencies"]) == {"com.floorline.DevicePrep"}  # floorline's own


def test_uplink_defaults_stay_within_the_limits() -> None:
    cfg = _defaults("Uplink")
    assert cfg["iotPublishesPerSecond"] <= limits.MQTT_PUBLISHES_PER_S
    assert cfg["iotBytesPerSecond"] <= limits.MQTT_BYTES_PER_S
    assert cfg["iotMaxMessageBytes"] <= limits.MQTT_MAX_PAYLOAD_BYTES
    low, high = limits.SM_BATCH_SIZE_RANGE
    assert low <= cfg["kinesisBatchSize"] <= high
    assert cfg["kinesisBatchIntervalMillis"] >= limits.SM_MIN_BATCH_INTERVAL_MS
    assert cfg["kinesisMaxRecordBytes"] <= limits.KINESIS_RECORD_MAX_BYTES


# --- access control ---------------------------------------------------------------------------


def _grants(source: ComponentSource) -> set[tuple[str, str, str]]:
    return set(access.grants(_defaults(source.key).get("accessControl") or {}))


def test_uplink_rights_are_generated_from_topics() -> None:
    uplink = next(s for s in DEVICE if s.key == "Uplink")
    expected = (
        {
            (access.MQTTPROXY, access.PUBLISH_IOT, access.mqtt_resource(kind))
            for kind in topics.UPLINK_KINDS
        }
        | {(access.MQTTPROXY, access.SUBSCRIBE_IOT, access.mqtt_resource(topics.COMMAND))}
        | {
            (access.MQTTPROXY, access.PUBLISH_IOT, access.shadow_resource(op))
            for op in topics.SHADOW_DEVICE_PUBLISHES
        }
        | {
            (access.MQTTPROXY, access.SUBSCRIBE_IOT, access.shadow_resource(op))
            for op in topics.SHADOW_DEVICE_RECEIVES
        }
        # Cloud commands the uplink passes on to the local components.
        | {
            (access.PUBSUB, access.PUBLISH_LOCAL, t)
            for t in (topics.LOCAL_IDENTIFY, topics.LOCAL_SET_RATE)
        }
    )
    assert _grants(uplink) == expected


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("source", DEVICE, ids=lambda s: s.key)
def test_iot_topics_are_floorline_device_topics_on_both_nuclei(
    source: ComponentSource, flavour: str
) -> None:
    """Each IoT Core resource, as either nucleus reads it, allows topics.device_topic(S, T, k)
    for its own kind k only; the thing level is the IoT policy's business (no nucleus
    substitutes {iot:thingName} by default), so no resource may rely on it."""
    for service, operation, resource in _grants(source):
        assert "{iot:thingName}" not in resource
        assert "*" not in operation
        if service == access.MQTTPROXY and resource.startswith("$aws/things/+/shadow/"):
            operation_name = resource.split(f"/name/{topics.SHADOW_NAME}/", 1)[1]
            allows = resource_matcher(resource, MQTT_PROXY, flavour)
            assert allows(topics.shadow_topic("gw-0042", operation_name))
            assert not allows(f"$aws/things/gw-0042/shadow/name/other/{operation_name}")
            assert not allows(f"$aws/things/gw-0042/shadow/{operation_name}")
        elif service == access.MQTTPROXY:
            kind = resource.rsplit("/", 1)[1]
            allows = resource_matcher(resource, MQTT_PROXY, flavour)
            assert allows(topics.device_topic("plant-a", "gw-0042", kind))
            others = [k for k in (*topics.UPLINK_KINDS, topics.COMMAND) if k != kind]
            assert not any(allows(topics.device_topic("plant-a", "gw-0042", k)) for k in others)
            assert not allows(f"other/plant-a/gw-0042/{kind}")
        else:
            assert service == access.PUBSUB
            assert "+" not in resource and "#" not in resource  # literal characters here
            assert resource.startswith(topics.live_filter().removesuffix("#")) or (
                resource in topics.LOCAL_COMMANDS
            )


@pytest.mark.parametrize("key", ["Sensors", "Rfid"])
def test_live_values_only_under_the_components_own_prefix(key: str) -> None:
    source = next(s for s in DEVICE if s.key == key)
    grants = _grants(source)
    assert grants == {(access.PUBSUB, access.PUBLISH_LOCAL, access.live_resource(source.package))}
    # The glob covers the topics the component publishes, and nobody else's, on both nuclei.
    own = topics.live_topic(source.package, "env/bme280@0x76")
    other = topics.live_topic("uplink", "env/bme280@0x76")
    for flavour in FLAVOURS:
        allows = resource_matcher(access.live_resource(source.package), PUBSUB, flavour)
        assert allows(own) and not allows(other)


@pytest.mark.parametrize(
    ("service", "operation", "resource", "finding"),
    [
        (access.MQTTPROXY, access.PUBLISH_IOT, "floorline/+/{iot:thingName}/alert", "outside"),
        (access.MQTTPROXY, access.PUBLISH_IOT, "floorline/#", "outside"),
        (access.MQTTPROXY, access.PUBLISH_IOT, "floorline/*/alert", "outside"),
        (access.MQTTPROXY, access.PUBLISH_IOT, "floorline/+/other-thing/alert", "outside"),
        (access.MQTTPROXY, access.SUBSCRIBE_IOT, "floorline/+/+/alert", "outside"),
        (access.MQTTPROXY, "*", "floorline/+/+/alert", "not allowed"),
        (access.PUBSUB, access.PUBLISH_LOCAL, "floorline/live/rfid/*", "outside"),
        (access.PUBSUB, access.PUBLISH_LOCAL, "floorline/live/sensors/#", "outside"),
        (access.PUBSUB, access.SUBSCRIBE_LOCAL, "#", "only floorline/live/"),
        (access.MQTTPROXY, access.PUBLISH_IOT, "$aws/things/+/shadow/#", "outside"),
        ("aws.greengrass.ShadowManager", "aws.greengrass#GetThingShadow", "*", "not part"),
        ("aws.greengrass.SecretManager", "aws.greengrass#GetSecretValue", "*", "not part"),
    ],
)
def test_the_access_check_refuses_wider_rights(
    service: str, operation: str, resource: str, finding: str
) -> None:
    sensors = next(s for s in DEVICE if s.key == "Sensors")
    policy = {
        service: {
            "com.floorline.Sensors:x:1": {
                "policyDescription": "d",
                "operations": [operation],
                "resources": [resource],
            }
        }
    }
    found = access.problems(sensors, policy)
    assert any(finding in f for f in found), found


# --- the suite and gdk-config.json --------------------------------------------------------------


def test_suite_depends_on_every_component() -> None:
    suite = next(s for s in SOURCES if s.package is None)
    _, parsed = _load(suite)
    assert set(parsed["ComponentDependencies"]) == {s.name for s in DEVICE}


def test_gdk_config_is_a_valid_gdk_1_6_project() -> None:
    config = json.loads((ROOT / "gdk-config.json").read_text())
    assert set(config) == {"component", "gdk_version"}
    assert re.match(r"^1\.6\.\d+$", config["gdk_version"])
    ((name, component),) = config["component"].items()  # GDK: exactly one component
    assert name == read_gdk_settings(ROOT).suite_name == "com.floorline.Suite"
    assert {"author", "version", "build", "publish"} <= set(component)
    assert layout.is_semver(component["version"])
    assert component["build"]["build_system"] == "custom"
    command = component["build"]["custom_build_command"]
    assert command[1:] == ["-m", "cloud.greengrass", "build", "--gdk-layout"]
    assert component["publish"]["bucket"]
    assert (ROOT / "recipe.yaml").is_file()  # GDK reads the project recipe only from here


def test_release_version_agrees_with_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert read_gdk_settings(ROOT).version == pyproject["project"]["version"]


# --- recipe defaults against each component's typed configuration ------------------------------


@pytest.mark.parametrize("source", DEVICE, ids=lambda s: s.key)
def test_recipe_defaults_match_the_component_spec(source: ComponentSource) -> None:
    spec = component_spec(source.package)
    assert spec is not None, f"components/{source.package} declares no configuration Spec"
    assert recipe.spec_mismatches(_defaults(source.key), spec) == []


def _conforms(value: Any, hint: Any) -> bool:
    """`value` is what the annotation `hint` says (one level of container arguments deep)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is None:
        return isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
    if origin in (types.UnionType, typing.Union):
        return any(_conforms(value, a) for a in args)
    if not isinstance(value, origin):
        return False
    if origin is tuple and args[-1:] == (Ellipsis,):
        return all(_conforms(v, args[0]) for v in value)
    if issubclass(origin, Mapping):
        return all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    return True


@pytest.mark.parametrize("source", DEVICE, ids=lambda s: s.key)
def test_recipe_defaults_parse_into_the_declared_types(source: ComponentSource) -> None:
    """What each key's check returns is what its field declares, so mypy's view of the
    settings is the truth (a check returning a list where a tuple is declared fails here)."""
    spec = component_spec(source.package)
    assert spec is not None
    parsed = spec.parse({k: v for k, v in _defaults(source.key).items() if k in spec.keys})
    hints = typing.get_type_hints(spec.settings)
    wrong = {
        name: (type(getattr(parsed, name)).__name__, hints[name])
        for name in spec.keys
        if not _conforms(getattr(parsed, name), hints[name])
    }
    assert wrong == {}


def test_the_spec_comparison_finds_every_kind_of_drift() -> None:
    @dataclass(frozen=True)
    class Declared:
        sampleIntervalSeconds: float = setting(1.0, "period", min=0.01)
        i2cBus: int = setting(1, "bus")
        publishLive: bool = setting(True, "live")

    spec = Spec(Declared)
    same = {"sampleIntervalSeconds": 1, "i2cBus": 1, "publishLive": True, "accessControl": {}}
    assert recipe.spec_mismatches(same, spec) == []  # 1 and 1.0 are the same default
    drift = {"sampleIntervalSeconds": 2.0, "i2cBus": 1, "chips": []}
    assert recipe.spec_mismatches(drift, spec) == [
        "chips: in the recipe, not in the Spec",
        "publishLive: in the Spec, not in the recipe",
        "sampleIntervalSeconds: recipe default 2.0, Spec default 1.0",
    ]
    bad = {"sampleIntervalSeconds": 0.0, "i2cBus": 1, "publishLive": True}
    (finding,) = recipe.spec_mismatches(bad, spec)
    assert finding.startswith("sampleIntervalSeconds: the Spec rejects the recipe default")
