"""Names CloudFormation would refuse stop the synth with a clear message and a non-zero exit;
cfn-lint errors in what synth wrote do too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.cdk import names
from cloud.cdk.app import build_app, lint_errors
from cloud.rules.definitions import RULES

REPO = Path(__file__).resolve().parents[3]


def test_fleet_names_up_to_the_template_limit_pass_and_one_more_fails() -> None:
    assert names.problems("f" * 20, ["plant-a"]) == []
    (problem,) = names.problems("f" * 21, ["plant-a"])
    assert "TemplateName" in problem and "37 characters, limit 36" in problem


def test_fleet_plus_site_over_128_fails_for_the_site_group() -> None:
    site = "s" * (128 - len(names.site_group("fleet", "")))
    assert names.problems("fleet", [site]) == []
    (problem,) = names.problems("fleet", [site + "x"])
    assert "ThingGroupName" in problem and "129 characters, limit 128" in problem


def test_characters_outside_a_schema_pattern_fail() -> None:
    found = names.problems("plant:1", ["a"])  # ':' is fine in groups, not in these two
    assert [f.split(" ", 2)[1] for f in found] == ["TemplateName", "RoleAlias"]


def test_build_app_refuses_before_building_anything() -> None:
    with pytest.raises(names.NameRejected, match="at most 20 characters"):
        build_app(rules=RULES, sites=["plant-a"], context={"fleet": "f" * 21})


@pytest.mark.slow
def test_synth_command_exits_non_zero_with_the_reason(tmp_path: Path) -> None:
    """As `cdk synth -c fleet=...` runs it: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"fleet": "a-very-long-fleet-name"}),
           "CDK_OUTDIR": str(tmp_path), "PYTHONPATH": str(REPO)}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "cloud.cdk.app"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1
    assert "FAIL synth" in proc.stderr and "'a-very-long-fleet-name-greengrass-core'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.slow
def test_cdk_cli_synth_fails_on_an_over_long_fleet_name(tmp_path: Path, cdk_cli) -> None:
    proc = cdk_cli("synth", "--quiet", "--output", str(tmp_path), "-c", "fleet=" + "f" * 21)
    assert proc.returncode != 0
    assert "FAIL synth" in proc.stderr and "37 characters, limit 36" in proc.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.slow
def test_lint_gate_reports_cfn_lint_errors(tmp_path: Path) -> None:
    """A template with a name over its schema's limit: cfn-lint's E3033, an error the gate
    returns (CDK itself only warns)."""
    template = {
        "Resources": {
            "Group": {
                "Type": "AWS::IoT::ThingGroup",
                "Properties": {"ThingGroupName": "g" * 129},
            },  # fmt: skip
        }
    }
    (tmp_path / "Bad.template.json").write_text(json.dumps(template))
    (error,) = lint_errors(tmp_path)
    assert "E3033" in error and error.startswith("Bad.template.json")
    (tmp_path / "Bad.template.json").write_text(
        json.dumps(
            {
                "Resources": {
                    "Group": {"Type": "AWS::IoT::ThingGroup", "Properties": {"ThingGroupName": "g"}}
                }
            }
        )
    )
    assert lint_errors(tmp_path) == []
