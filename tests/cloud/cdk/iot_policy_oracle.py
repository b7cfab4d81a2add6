"""An evaluator of AWS IoT policies for tests, written from the IoT policy rules.

Policy variables are substituted from the connecting thing; in resources and actions `*`
matches any run of characters and `?` one character; access is granted only if some Allow
statement matches both the action and the resource (these policies have no Deny).
"""

from __future__ import annotations

import re
from typing import Any

from cloud.cdk.iot_policy import SITE, THING


def _glob(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{out}$", re.DOTALL)


def allowed(policy: dict[str, Any], action: str, resource: str, thing: str, site: str) -> bool:
    for st_ in policy["Statement"]:
        if st_["Effect"] != "Allow":
            continue
        actions = st_["Action"] if isinstance(st_["Action"], list) else [st_["Action"]]
        if not any(_glob(a).match(action) for a in actions):
            continue
        resources = st_["Resource"] if isinstance(st_["Resource"], list) else [st_["Resource"]]
        for res in resources:
            res = res.replace(THING, thing).replace(SITE, site)
            if _glob(res).match(resource):
                return True
    return False
