"""The nucleus profiles a thing group's deployment follows (`nucleus:` in a site file, a
`site:lite` entry in the CDK app's `sites`): what the classic nucleus and nucleus lite can run,
and how the uplink is set up for each. Used by the deploy command (deploy.py), the CDK stack's
site deployments (cloud/cdk/fleet.py) and edge_sim's fleet (`edge_sim run --nucleus lite`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cloud.greengrass import layout
from components.core.limits import LITE_IOT_PAYLOAD_MAX_BYTES

UPLINK: Final = f"{layout.NAME_PREFIX}Uplink"
STREAM_MANAGER: Final = "aws.greengrass.StreamManager"
CLASSIC: Final = "classic"
LITE: Final = "lite"


@dataclass(frozen=True)
class NucleusProfile:
    """What a deployment to one kind of nucleus must hold and what the uplink is told."""

    name: str
    refused_prefixes: tuple[str, ...]  # components that nucleus cannot run
    uplink_merge: dict[str, Any]  # forced into the uplink's configuration
    uplink_maxima: dict[str, int]  # upper bounds on the uplink's configuration


PROFILES: dict[str, NucleusProfile] = {
    CLASSIC: NucleusProfile(CLASSIC, (), {}, {}),
    # Nucleus lite runs generic components only: AWS's Java plugins (Stream Manager,
    # ShadowManager, ...) are not available there.
    LITE: NucleusProfile(
        LITE,
        ("aws.greengrass.",),
        {"useKinesis": False},
        {"iotMaxMessageBytes": LITE_IOT_PAYLOAD_MAX_BYTES},
    ),
}


def profile_named(name: str) -> NucleusProfile:
    """The profile called `name`; ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"nucleus {name!r} must be one of {sorted(PROFILES)}") from None


def uplink_settings(profile: NucleusProfile, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` (the uplink's) with what the profile forces and its maxima applied."""
    out = {**config, **profile.uplink_merge}
    for key, maximum in profile.uplink_maxima.items():
        value = out.get(key)
        if not isinstance(value, int) or value > maximum:
            out[key] = maximum
    return out


def uplink_forced(profile: NucleusProfile, config: Mapping[str, Any]) -> dict[str, Any]:
    """Only the uplink keys the profile sets, as they settle over `config` (the uplink's
    defaults with any site merge): what a deployment must merge into the uplink."""
    settled = uplink_settings(profile, config)
    return {k: settled[k] for k in (*profile.uplink_merge, *profile.uplink_maxima)}
