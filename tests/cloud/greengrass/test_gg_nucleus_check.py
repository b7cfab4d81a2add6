"""The recipe checker (cloud/greengrass/nucleus_check.py): the build refuses what the classic
nucleus or nucleus lite would refuse or misread, and what it accepts means the same on both."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.greengrass import layout, nucleus_check, recipe
from components.core.limits import LITE_RECIPE_MAX_BYTES
from edge_sim.nucleus.access import (
    CLASSIC,
    LITE,
    MQTT_PROXY,
    PUBSUB,
    InvalidResource,
    resource_matcher,
)

RECIPES = sorted((layout.REPO_ROOT / "recipes").glob("*.yaml")) + [layout.REPO_ROOT / "recipe.yaml"]


def _load(name: str = "Sensors.yaml") -> dict[str, Any]:
    return copy.deepcopy(recipe.load(layout.REPO_ROOT / "recipes" / name)[1])


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_committed_recipes_read_the_same_on_both_nuclei(path: Any) -> None:
    parsed = recipe.load(path)[1]
    assert nucleus_check.problems(parsed, len(recipe.dump(parsed))) == []


def _acl(service: str, *resources: Any, operations: Any = None) -> dict[str, Any]:
    return {
        service: {
            "x:1": {
                "operations": operations if operations is not None else ["*"],
                "resources": list(resources),
            }
        }
    }


@pytest.mark.parametrize(
    ("service", "resource", "finding"),
    [
        (PUBSUB, "floorline/live/sensors/#", "plain characters"),
        (PUBSUB, "floorline/+/x", "plain characters"),
        (MQTT_PROXY, "floorline/+/{iot:thingName}/agg", "{iot:thingName}"),
        (PUBSUB, "t/{iot:thingName}", "{iot:thingName}"),
        (MQTT_PROXY, "t/${iot:thingName}", "only ${*}"),
        (MQTT_PROXY, "t/a?", "bare '?'"),
    ],
)
def test_resources_a_nucleus_misreads(service: str, resource: str, finding: str) -> None:
    found = nucleus_check.access_problems(_acl(service, resource))
    assert any(finding in f for f in found), found


def test_mqtt_wildcards_are_fine_for_iot_core_and_escapes_for_both() -> None:
    assert nucleus_check.access_problems(_acl(MQTT_PROXY, "a/+/b", "a/#", "a/${?}", "a/*")) == []
    assert nucleus_check.access_problems(_acl(PUBSUB, "a/*", "a/${*}")) == []


def test_policies_that_are_not_lists_of_strings() -> None:
    found = nucleus_check.access_problems(_acl(PUBSUB, "a", operations="*"))
    assert any("operations must be a list of strings" in f for f in found)
    found = nucleus_check.access_problems(
        {PUBSUB: {"x:1": {"operations": ["*"], "resources": [5]}}}
    )
    assert any("resources must be a list of strings" in f for f in found)


def test_keys_in_the_wrong_case_or_unknown_to_lite() -> None:
    parsed = _load()
    manifest = parsed["Manifests"][0]
    manifest["Lifecycle"]["Run"] = manifest["Lifecycle"].pop("run")
    manifest["Lifecycle"]["shutdown"] = {"Script": "true"}
    manifest["Artifacts"][0]["URI"] = manifest["Artifacts"][0].pop("Uri")
    manifest["Lifecycle"]["install"]["script"] = manifest["Lifecycle"]["install"].pop("Script")
    del parsed["Manifests"][1]["Platform"]["runtime"]
    parsed["componentName"] = parsed.pop("ComponentName")
    found = " | ".join(nucleus_check.problems(parsed, 100))
    for expected in (
        "Lifecycle.Run: nucleus lite reads keys as spelled; write run",
        "Lifecycle.shutdown: not supported by nucleus lite",
        "Artifacts[0].URI: nucleus lite reads keys as spelled; write Uri",
        "install.script: nucleus lite reads keys as spelled; write Script",
        "install: no Script",
        "Manifests[1].Platform: runtime None",
        "componentName: nucleus lite reads keys as spelled; write ComponentName",
    ):
        assert expected in found, found


def test_a_recipe_longer_than_lite_reads() -> None:
    found = nucleus_check.problems(_load(), LITE_RECIPE_MAX_BYTES + 1)
    assert any("recipe-runner reads" in f for f in found)
    assert nucleus_check.problems(_load(), LITE_RECIPE_MAX_BYTES) == []


def test_the_build_check_refuses_a_misread_resource() -> None:
    from cloud.greengrass.project import component_sources

    source = next(s for s in component_sources(layout.REPO_ROOT) if s.key == "Sensors")
    parsed = _load()
    acl = parsed["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]
    acl[PUBSUB]["com.floorline.Sensors:pubsub:1"]["resources"] = ["floorline/live/sensors/#"]
    text = (layout.REPO_ROOT / "recipes" / "Sensors.yaml").read_text()
    found = recipe.problems(source, parsed, text)
    assert any("plain characters" in f for f in found), found


# What the checker accepts, both nuclei read alike: an independent check of the rules above
# against the two matchers (edge_sim/nucleus/access.py, written from each nucleus's source).
chars = st.sampled_from(["a", "b", "/", "*", "+", "#", "?", "${*}", "${?}", "${x}", "{", "}"])
patterns = st.lists(chars, min_size=1, max_size=6).map("".join)
topics = st.lists(st.sampled_from(["a", "b", "/", "+", "#", "*", "?"]), max_size=6).map("".join)


@given(patterns, topics)
def test_accepted_local_resources_mean_the_same_on_both_nuclei(pattern: str, topic: str) -> None:
    if nucleus_check.access_problems(_acl(PUBSUB, pattern)):
        return
    try:
        classic = resource_matcher(pattern, PUBSUB, CLASSIC)
    except InvalidResource:
        pytest.fail(f"accepted {pattern!r}, which the classic nucleus refuses")
    assert classic(topic) == resource_matcher(pattern, PUBSUB, LITE)(topic), (pattern, topic)
