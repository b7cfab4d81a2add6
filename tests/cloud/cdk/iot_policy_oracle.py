"""An evaluator of AWS IoT policies for tests, written from the IoT policy rules.

In resources and actions `*` matches any run of characters and `?` one character; access is
granted only if some Allow statement matches both the action and the resource (these policies
have no Deny). Thing policy variables resolve as IoT Core resolves them with non-exclusive
thing association: only on a connection whose MQTT client id equals the thing name ("Thing
policy variables", AWS IoT developer guide); elsewhere they stay unresolved and match nothing.
"""

from __future__ import annotations

import re
from typing import Any

THING = "${iot:Connection.Thing.ThingName}"
SITE = "${iot:Connection.Thing.Attributes[site]}"


def _glob(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{out}$", re.DOTALL)


def allowed(
    policy: dict[str, Any],
    action: str,
    resource: str,
    thing: str = "",
    site: str = "",
    client_id: str | None = None,
) -> bool:
    """`client_id` defaults to the thing name (the nucleus's first connection)."""
    resolves = (thing if client_id is None else client_id) == thing
    for st_ in policy["Statement"]:
        if st_["Effect"] != "Allow":
            continue
        actions = st_["Action"] if isinstance(st_["Action"], list) else [st_["Action"]]
        if not any(_glob(a).match(action) for a in actions):
            continue
        resources = st_["Resource"] if isinstance(st_["Resource"], list) else [st_["Resource"]]
        for res in resources:
            if resolves:
                res = res.replace(THING, thing).replace(SITE, site)
            if _glob(res).match(resource):
                return True
    return False
