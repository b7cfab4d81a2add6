"""What the stack deploys to a site: the suite's components, their versions and configuration.

The component list and each component's configuration keys come from the recipes
(recipes/*.yaml, read through cloud/greengrass), so a new component or key needs no change
here. Per site the deployment merges:
- `siteId` (the second level of the device's topics) into every component that has the key;
  it equals the thing's `site` attribute that the IoT policy checks, because the thing sits in
  the group of its site by provisioning;
- `kinesisStreamName` (the stack's stream) into every component that has the key;
- ShadowManager's sync of the uplink's named shadow (components/core/topics.SHADOW_NAME).
A site of nucleus lite devices gets no AWS plugin component (nucleus, Stream Manager,
ShadowManager) and the uplink keys its profile forces (cloud/greengrass/profiles.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cloud.greengrass import recipe
from cloud.greengrass.profiles import (
    CLASSIC,
    PROFILES,
    STREAM_MANAGER,
    UPLINK,
    NucleusProfile,
    uplink_forced,
)
from cloud.greengrass.project import component_sources
from components.core import topics

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
NUCLEUS: Final = "aws.greengrass.Nucleus"
SHADOW_MANAGER: Final = "aws.greengrass.ShadowManager"
DEFAULT_COMPONENT_VERSION: Final = "1.0.0"
DEFAULT_NUCLEUS_VERSION: Final = "2.14.0"
DEFAULT_SHADOW_MANAGER_VERSION: Final = "2.3.9"
# The uplink does not depend on Stream Manager (nucleus lite has none): the classic profile
# deploys it (cloud/greengrass/profiles.py).
DEFAULT_STREAM_MANAGER_VERSION: Final = "2.2.1"
SITE_KEY: Final = "siteId"
STREAM_KEY: Final = "kinesisStreamName"


@dataclass(frozen=True)
class SuiteComponent:
    key: str  # recipe file stem: "Uplink"
    name: str  # "com.floorline.Uplink"
    default_configuration: Mapping[str, Any]

    @property
    def parameter_id(self) -> str:
        """CloudFormation parameter of its version: Uplink -> UplinkVersion."""
        return re.sub(r"[^A-Za-z0-9]", "", self.key) + "Version"


def device_components(root: Path = REPO_ROOT) -> list[SuiteComponent]:
    """Every component with code on the device (the suite meta-component is left out: the
    deployment pins each component itself)."""
    out = []
    for source in component_sources(root):
        if source.package is None:
            continue
        parsed = recipe.load(source.recipe_path)[1]
        out.append(SuiteComponent(source.key, source.name, recipe.default_configuration(parsed)))
    return out


@dataclass(frozen=True)
class VersionParameter:
    """A stack parameter naming the version of one component in every site's deployment."""

    parameter_id: str
    component: str
    default: str


def version_parameters(root: Path = REPO_ROOT) -> list[VersionParameter]:
    """Every component version the deployments take from a stack parameter."""
    out = [VersionParameter(c.parameter_id, c.name, DEFAULT_COMPONENT_VERSION)
           for c in device_components(root)]  # fmt: skip
    out.append(VersionParameter("NucleusVersion", NUCLEUS, DEFAULT_NUCLEUS_VERSION))
    out.append(
        VersionParameter("ShadowManagerVersion", SHADOW_MANAGER, DEFAULT_SHADOW_MANAGER_VERSION)
    )
    out.append(
        VersionParameter("StreamManagerVersion", STREAM_MANAGER, DEFAULT_STREAM_MANAGER_VERSION)
    )
    return out


def site_merge(
    component: SuiteComponent,
    *,
    site: str,
    stream_name: str,
    profile: NucleusProfile = PROFILES[CLASSIC],
) -> dict[str, Any]:
    """Configuration merged into one component at one site ({} when it takes none of the keys):
    the site's keys, and for the uplink what the site's nucleus profile forces."""
    merge: dict[str, Any] = {}
    if SITE_KEY in component.default_configuration:
        merge[SITE_KEY] = site
    if STREAM_KEY in component.default_configuration:
        merge[STREAM_KEY] = stream_name
    if component.name == UPLINK:
        merge.update(uplink_forced(profile, {**component.default_configuration, **merge}))
    return merge


def shadow_manager_merge() -> dict[str, Any]:
    """Sync only the uplink's named shadow of the core device (not the classic shadow)."""
    return {"synchronize": {"coreThing": {"classic": False, "namedShadows": [topics.SHADOW_NAME]}}}
