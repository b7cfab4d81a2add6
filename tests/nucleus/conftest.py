"""The real-nucleus tier: AWS's nucleus lite, built and run by the kit (lite_kit.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "edge_sim" / "nucleus"))

from lite_kit import LiteNucleus, environment_problems, skip_reason  # noqa: E402


@pytest.fixture(scope="session")
def lite_build() -> LiteNucleus:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    problems = environment_problems()
    assert not problems, "the real-nucleus tier cannot run here: " + "; ".join(problems)
    nucleus = LiteNucleus()
    nucleus.build()
    return nucleus


@pytest.fixture
def lite(lite_build: LiteNucleus) -> Iterator[LiteNucleus]:
    yield lite_build
    lite_build.down()
