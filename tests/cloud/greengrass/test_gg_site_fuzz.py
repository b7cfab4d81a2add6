"""Site files are outside input: any YAML gives a valid request or a SiteFileError, never a
crash; and the version arithmetic GDK's NEXT_PATCH relies on."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.greengrass import layout
from cloud.greengrass.deploy import (
    SiteFileError,
    deployment_request,
    floorline_defaults,
    load_site,
)

DEFAULTS = floorline_defaults(layout.REPO_ROOT)
EXAMPLE = yaml.safe_load((layout.REPO_ROOT / "cloud/greengrass/sites/example.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    return found


PATHS = [p for p in _paths(EXAMPLE) if p]


def _mutate(path: tuple, value: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(EXAMPLE))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), value=values)
def test_any_site_file_is_a_request_or_a_named_error(
    tmp_path: Path, path: tuple, value: object
) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(_mutate(path, value)))
    try:
        site = load_site(site_file, defaults=DEFAULTS, specs={})
        request = deployment_request(
            site, thing_group="g", region="eu-west-1", account="123456789012"
        )
    except SiteFileError:
        return
    assert request["deploymentPolicies"]["failureHandlingPolicy"] == "ROLLBACK"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_any_bytes_as_a_site_file(tmp_path: Path, data: bytes) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_bytes(data)
    try:
        load_site(site_file, defaults=DEFAULTS, specs={})
    except SiteFileError:
        return


versions = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 999),
    st.integers(0, 999),
    st.integers(0, 999),
    st.sampled_from(["", "rc.1", "alpha", "beta.2"]),
)


@given(versions)
def test_next_patch_is_above_and_semver(version: str) -> None:
    nxt = layout.next_patch(version)
    assert layout.is_semver(nxt)
    assert layout.semver_key(nxt) > layout.semver_key(version)


@given(st.lists(versions, min_size=2, max_size=6))
def test_semver_order_puts_releases_above_their_prereleases(batch: list[str]) -> None:
    ordered = sorted(batch, key=layout.semver_key)
    for low, high in zip(ordered, ordered[1:], strict=False):
        a, b = layout.semver_key(low), layout.semver_key(high)
        assert a[:3] <= b[:3]
        if a[:3] == b[:3] and "-" not in high:
            assert a[3] <= b[3]
