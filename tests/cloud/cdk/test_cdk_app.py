"""App inputs: the site list from context, site id validation, component parameter ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.cdk.app import DEFAULT_SITES, sites_from_context
from cloud.cdk.fleet import validate_site
from cloud.cdk.lake import projection_parameters, storage_template
from cloud.cdk.suite import (
    SITE_KEY,
    STREAM_KEY,
    device_components,
    shadow_manager_merge,
    site_merge,
)
from cloud.greengrass.profiles import LITE, PROFILES, UPLINK
from components.core import topics
from components.core.topics import TopicError


def test_sites_from_command_line_and_cdk_json() -> None:
    assert sites_from_context("plant-a, plant-b") == {"plant-a": "classic", "plant-b": "classic"}
    assert sites_from_context(["plant-a"]) == {"plant-a": "classic"}
    assert sites_from_context(None) == dict.fromkeys(DEFAULT_SITES, "classic")


def test_a_site_entry_names_the_nucleus_profile_of_its_devices() -> None:
    plan = sites_from_context("plant-a, plant-b:lite,plant-c : classic")
    assert plan == {"plant-a": "classic", "plant-b": "lite", "plant-c": "classic"}
    assert list(plan) == ["plant-a", "plant-b", "plant-c"]  # order kept: it names resources


@pytest.mark.parametrize("bad", ["", " , ", [], ["a", "a"], "a,b,a", "a,a:lite"])
def test_empty_or_repeated_sites_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="names no site|repeats site"):
        sites_from_context(bad)


def test_an_unknown_nucleus_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"nucleus 'tiny' must be one of \['classic', 'lite'\]"):
        sites_from_context("plant-a:tiny")


@pytest.mark.parametrize("bad", ["a/b", "plant a", "+", "#", "x" * 200])
def test_a_site_must_be_a_topic_segment(bad: str) -> None:
    with pytest.raises(TopicError):
        validate_site(bad)


def test_suite_components_come_from_the_recipes() -> None:
    components = device_components()
    names = [c.name for c in components]
    recipes = sorted(Path(__file__).resolve().parents[3].joinpath("recipes").glob("*.yaml"))
    assert names == [f"com.floorline.{p.stem}" for p in recipes]
    ids = [c.parameter_id for c in components]
    assert len(set(ids)) == len(ids) and all(i.isalnum() for i in ids)
    assert "UplinkVersion" in ids


def test_site_configuration_goes_only_where_the_recipe_has_the_key() -> None:
    by_name = {c.name: c for c in device_components()}
    for c in by_name.values():
        merge = site_merge(c, site="plant-a", stream_name="raw")
        assert (SITE_KEY in merge) == (SITE_KEY in c.default_configuration)
        assert (STREAM_KEY in merge) == (STREAM_KEY in c.default_configuration)
    uplink = site_merge(by_name["com.floorline.Uplink"], site="plant-a", stream_name="raw")
    assert uplink == {SITE_KEY: "plant-a", STREAM_KEY: "raw"}


def test_a_lite_site_sets_the_uplink_for_nucleus_lite_and_nothing_else() -> None:
    lite = PROFILES[LITE]
    for c in device_components():
        classic = site_merge(c, site="plant-b", stream_name="raw")
        merge = site_merge(c, site="plant-b", stream_name="raw", profile=lite)
        if c.name != UPLINK:
            assert merge == classic
            continue
        limit = lite.uplink_maxima["iotMaxMessageBytes"]
        assert merge == {
            **classic,
            "useKinesis": False,
            "iotMaxMessageBytes": min(c.default_configuration["iotMaxMessageBytes"], limit),
        }


def test_shadow_manager_syncs_the_uplinks_named_shadow_only() -> None:
    sync = shadow_manager_merge()["synchronize"]["coreThing"]
    assert sync == {"classic": False, "namedShadows": [topics.SHADOW_NAME]}


def test_projection_lists_the_sites_and_points_at_the_layout() -> None:
    params = projection_parameters(["p1", "p2"], "bucket")
    assert params["projection.site.values"] == "p1,p2"
    assert params["storage.location.template"] == storage_template("bucket")
    assert storage_template("bucket") == "s3://bucket/telemetry/site=${site}/dt=${dt}/"
    with pytest.raises(ValueError):
        projection_parameters([], "bucket")


def test_glue_columns_equal_the_lake_schema() -> None:
    """Once cloud/lake is present: one schema for the local lake and the Glue table."""
    schema = pytest.importorskip("cloud.lake.schema")
    from cloud.cdk import columns

    assert [(n, t) for n, t, _ in columns.COLUMNS] == [
        (c.name, c.glue_type) for c in schema.COLUMNS
    ]
    assert columns.PARTITION_KEYS == tuple(schema.PARTITION_KEYS)
    assert columns.TABLE == schema.TABLE


def test_stack_names_equal_the_rule_definitions() -> None:
    """Once cloud/rules is present: the state table keys and action targets agree."""
    definitions = pytest.importorskip("cloud.rules.definitions")
    from cloud.cdk import stack

    assert stack.STATE_PARTITION_KEY == definitions.STATE_PARTITION_KEY
    assert stack.STATE_TTL_ATTRIBUTE == definitions.STATE_TTL_ATTRIBUTE
    bound = {stack.TELEMETRY_STREAM, stack.STATE_TABLE, stack.ALERT_TOPIC, stack.ERROR_BUCKET}
    assert bound == set(definitions.TARGETS)
