"""The configuration key tables in the component READMEs are generated from the Specs and
checked against them both ways."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloud.greengrass import config_docs
from cloud.greengrass.config_docs import BEGIN, END, drift, regenerated, row
from components.core.config import Key, Spec, setting

DOCUMENTED = list(config_docs.documented())


@dataclass(frozen=True)
class Bus:
    i2cBus: int = setting(1, "I2C adapter", min=0, max=255)
    publishLive: bool = setting(True, "live values")


@dataclass(frozen=True)
class MoreBus(Bus):
    chips: tuple[Any, ...] = setting([], "the chips", check=tuple, raw=list)


@dataclass(frozen=True)
class FewerBus:
    i2cBus: int = setting(1, "I2C adapter", min=0, max=255)


@dataclass(frozen=True)
class ChangedBus:
    i2cBus: int = setting(2, "I2C adapter", min=0, max=255)
    publishLive: bool = setting(True, "live values")


SPEC = Spec(Bus)
README = "\n".join(
    ["# sensors", "", BEGIN, *config_docs.table(SPEC), END, "", "Chip options follow.", ""]
)


def test_every_component_with_a_spec_has_a_key_table() -> None:
    packages = {readme.parent.name for readme, _ in DOCUMENTED}
    assert {"analytics", "console", "http_ingest", "rfid", "sensors", "uplink"} <= packages


@pytest.mark.parametrize("readme,spec", DOCUMENTED, ids=[r.parent.name for r, _ in DOCUMENTED])
def test_readme_key_table_matches_the_spec(readme: Path, spec: Spec) -> None:
    assert drift(readme.read_text(), spec) == [], (
        "regenerate with: python -m cloud.greengrass.config_docs --write"
    )


def test_a_row_shows_type_default_and_bounds() -> None:
    assert row(SPEC.keys["i2cBus"]) == "| `i2cBus` | int | `1` | I2C adapter (0..255) |"
    assert row(Key("mode", str, "a", "how", choices=("a", "b"))) == (
        '| `mode` | str | `"a"` | how (one of `"a"`, `"b"`) |'
    )


def test_drift_is_found_both_ways() -> None:
    assert drift(README, SPEC) == []
    more = Spec(MoreBus)
    assert drift(README, more) == ["chips: in the Spec, not in the README"]
    fewer = Spec(FewerBus)
    assert drift(README, fewer) == ["publishLive: in the README, not in the Spec"]


def test_a_changed_default_or_meaning_is_drift() -> None:
    changed = Spec(ChangedBus)
    (finding,) = drift(README, changed)
    assert finding.startswith("i2cBus: README row")
    assert "`2`" in finding


def test_a_readme_without_the_markers_is_drift() -> None:
    assert drift("# sensors\n", SPEC) == ["no generated key table (its marker lines are missing)"]


def test_regenerating_fixes_the_table_and_keeps_the_text_around_it() -> None:
    more = Spec(MoreBus)
    fixed = regenerated(README, more)
    assert drift(fixed, more) == []
    assert fixed.startswith("# sensors\n\n" + BEGIN)
    assert fixed.endswith(END + "\n\nChip options follow.\n")
