"""DevicePrep's configuration (recipes/DevicePrep.yaml's DefaultConfiguration is checked
against this Spec). The recipe hands the values to the command line; `main` checks them here
before anything changes. `pipIndexOptions` is the Install script's, not the component's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from components.core.config import Spec, setting

# useradd's portable name rule (POSIX portable filename characters, not starting with '-').
_NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")


def _name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a user or group name")
    return value


def _groups(value: str) -> tuple[str, ...]:
    """Comma-separated group names (blanks between commas ignored); empty: none."""
    return tuple(_name(g.strip()) for g in value.split(",") if g.strip())


def _absolute_folder(value: str) -> str:
    if not PurePosixPath(value).is_absolute() or "\0" in value:
        raise ValueError(f"{value!r} is not an absolute folder path")
    return value


@dataclass(frozen=True)
class DevicePrepSettings:
    """DevicePrep's settings: one field per configuration key."""

    componentUser: str = setting(
        "ggc_user", "the user the components run as (the deployment's runWith)", check=_name
    )
    supplementaryGroups: tuple[str, ...] = setting(
        "i2c,gpio,dialout",
        "groups that user joins where they exist (comma-separated)",
        check=_groups,
        raw=str,
    )
    logFolder: str = setting(
        "/var/lib/floorline",
        "folder of the durable log (of every component's logPath), made for that user",
        check=_absolute_folder,
    )


SPEC = Spec(DevicePrepSettings)
