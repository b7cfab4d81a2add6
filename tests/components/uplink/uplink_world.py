"""A nucleus (edge_sim) with the uplink's access policy, and the uplink as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
UPLINK = "com.floorline.Uplink"
TOKEN = "tok-uplink-e2e"
THING = "dev-e2e"
# The access rights are the recipe's, read from the one place that states them.
RECIPE = yaml.safe_load((ROOT / "recipes" / "Uplink.yaml").read_text())
ACL: dict[str, Any] = RECIPE["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]


def start_uplink(socket_path: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SVCUID": TOKEN,
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": socket_path,
        "AWS_IOT_THING_NAME": THING,
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "components.uplink"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def config(log_path: Path, **over: Any) -> dict[str, Any]:
    return {
        "siteId": "plant-1",
        "logPath": str(log_path),
        "logBudgetBytes": 64 << 20,
        "freeDiskFloorBytes": 0,
        "useKinesis": False,
        "batchMaxDelaySeconds": 0.2,
        "shadowIntervalSeconds": 1.0,
        "accessControl": ACL,
        **over,
    }


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()
