"""The conformance cases against AWS's real nucleus lite: the probe runs as a component started
by lite's recipe-runner (its cgroup gives it its identity, as on a device) and must get exactly
the answers edge_sim's lite flavour gives (tests/edge_sim/nucleus/test_nucleus_conformance.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conformance_cases import ACCESS_CONTROL, CASES, COMPONENT, CONFIG
from conformance_probe import MARK
from lite_kit import LiteNucleus

pytestmark = [pytest.mark.nucleus, pytest.mark.slow]
PROBE = Path(__file__).resolve().parents[1] / "edge_sim" / "nucleus" / "conformance_probe.py"
VERSION = "1.0.0"


def probe_recipe() -> dict:
    return {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": COMPONENT,
        "ComponentVersion": VERSION,
        "ComponentType": "aws.greengrass.generic",
        "Manifests": [
            {
                "Platform": {"os": "linux", "runtime": "*"},
                "Lifecycle": {"run": {"Script": f"exec {sys.executable} {PROBE}"}},
            }
        ],
    }


def test_real_nucleus_lite_answers_every_case_as_edge_sim_lite(lite: LiteNucleus) -> None:
    lite.up(
        {
            COMPONENT: {
                "version": VERSION,
                "configuration": {**CONFIG, "accessControl": ACCESS_CONTROL},
            }
        }
    )
    lite.install(COMPONENT, VERSION, probe_recipe(), {})
    lite.run_component(COMPONENT, VERSION)
    status = lite.wait_exit(COMPONENT, timeout_s=240)
    log = lite.component_log(COMPONENT)
    lines = [line for line in log.splitlines() if MARK in line]
    assert status == 0 and lines, log[-3000:]
    results = json.loads(lines[-1].split(MARK, 1)[1])
    expected = {case.name: case.lite for case in CASES}
    wrong = {k: (results.get(k), v) for k, v in expected.items() if results.get(k) != v}
    assert wrong == {}, f"case -> (nucleus lite's answer, edge_sim lite's): {wrong}"
