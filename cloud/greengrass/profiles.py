"""The nucleus profiles a thing group's deployment follows (`nucleus:` in a site file): what the
classic nucleus and nucleus lite can run, and how the uplink is set up for each. Used by the
deploy command (deploy.py) and by edge_sim's fleet (`edge_sim run --nucleus lite`)."""

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


def uplink_settings(profile: NucleusProfile, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` (the uplink's) with what the profile forces and its maxima applied."""
    out = {**config, **profile.uplink_merge}
    for key, maximum in profile.uplink_maxima.items():
        value = out.get(key)
        if not isinstance(value, int) or value > maximum:
            out[key] = maximum
    return out
