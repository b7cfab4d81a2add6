"""IPC authorization from a recipe's `accessControl`, matched the way the Greengrass nucleus does.

accessControl = {service: {policyId: {"policyDescription": ..., "operations": [...],
                                      "resources": [...]}}}

- A policy belongs to the component whose recipe holds it (the principal).
- `operations` are `aws.greengrass#<Operation>` or `*` (every operation of that service).
- Resources are patterns: `*` matches any characters (slashes included); for the MQTT-style
  services (mqttproxy, pubsub) `+` matches one whole level and a trailing `/#` any rest (also the
  parent itself), but only where MQTT allows them, elsewhere they are literal characters;
  `${c}` escapes one character; `{iot:thingName}` and `${iot:thingName}` become the thing name.
- The requested resource is a literal string: a subscription to `a/+/c` is allowed by a policy
  resource `a/+/c`, `a/#` or `a/*`, not by `a/b/c`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MQTT_PROXY: Final = "aws.greengrass.ipc.mqttproxy"
PUBSUB: Final = "aws.greengrass.ipc.pubsub"
SHADOW_MANAGER: Final = "aws.greengrass.ShadowManager"

OPERATION_PREFIX: Final = "aws.greengrass#"
ANY: Final = "*"

# The operations each destination service answers; a policy naming another is ignored.
SERVICE_OPERATIONS: Final[Mapping[str, frozenset[str]]] = {
    MQTT_PROXY: frozenset({"PublishToIoTCore", "SubscribeToIoTCore"}),
    PUBSUB: frozenset({"PublishToTopic", "SubscribeToTopic"}),
    SHADOW_MANAGER: frozenset(
        {"GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListNamedShadowsForThing"}
    ),
}
MQTT_STYLE_SERVICES: Final = frozenset({MQTT_PROXY, PUBSUB})

_THING_VARIABLES: Final = ("${iot:thingName}", "{iot:thingName}")


class PolicyError(ValueError):
    """An accessControl document that cannot be used; `.evidence` holds the part at fault."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class AccessDenied(PermissionError):
    """The request is outside every policy of the component (IPC answers UnauthorizedError)."""


def _level_bounds(pattern: str, index: int) -> tuple[bool, bool]:
    starts = index == 0 or pattern[index - 1] == "/"
    ends = index == len(pattern) - 1 or pattern[index + 1] == "/"
    return starts, ends


def compile_resource(pattern: str, mqtt_style: bool) -> re.Pattern[str]:
    """A resource pattern as an anchored regular expression over the requested resource."""
    if pattern == ANY or (mqtt_style and pattern == "#"):
        return re.compile(r".*", re.S)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "$" and i + 3 < len(pattern) and pattern[i + 1] == "{" and pattern[i + 3] == "}":
            out.append(re.escape(pattern[i + 2]))
            i += 4
            continue
        if char == "*":
            out.append(".*")
        elif mqtt_style and char == "+" and all(_level_bounds(pattern, i)):
            out.append("[^/]*")
        elif (
            mqtt_style and char == "#" and i == len(pattern) - 1 and i > 0 and pattern[i - 1] == "/"
        ):
            # `a/#` also covers `a` itself: drop the separator already emitted.
            out.pop()
            out.append("(?:/.*)?")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.S)


@dataclass(frozen=True)
class Policy:
    policy_id: str
    service: str
    operations: frozenset[str]  # bare names ("PublishToIoTCore") or "*"
    resources: tuple[str, ...]
    matchers: tuple[re.Pattern[str], ...]

    def allows(self, operation: str, resource: str | None) -> bool:
        if ANY not in self.operations and operation not in self.operations:
            return False
        if resource is None:
            return True
        return any(m.fullmatch(resource) for m in self.matchers)


class AccessPolicy:
    """Every IPC policy of one component, ready to answer `check`."""

    def __init__(self, access_control: Mapping[str, Any] | None, thing_name: str = "") -> None:
        self.policies: list[Policy] = []
        self.warnings: list[str] = []  # policies or operations the nucleus would ignore
        for service, by_id in (access_control or {}).items():
            if not isinstance(by_id, Mapping):
                raise PolicyError(f"accessControl[{service!r}] is not a map", by_id)
            for policy_id, body in by_id.items():
                self.policies.append(self._parse(service, str(policy_id), body, thing_name))

    def _parse(self, service: str, policy_id: str, body: Any, thing_name: str) -> Policy:
        if not isinstance(body, Mapping):
            raise PolicyError(f"policy {policy_id!r} is not a map", body)
        operations = body.get("operations") or []
        resources = body.get("resources") or []
        if not isinstance(operations, list) or not isinstance(resources, list):
            raise PolicyError(f"policy {policy_id!r}: operations/resources must be lists", body)
        known = SERVICE_OPERATIONS.get(service)
        names: set[str] = set()
        for op in operations:
            name = op if op == ANY else str(op).removeprefix(OPERATION_PREFIX)
            if name != ANY and (known is None or name not in known):
                self.warnings.append(f"{policy_id}: {op} is not an operation of {service}")
                continue
            names.add(name)
        if not resources:
            self.warnings.append(f"{policy_id}: no resources, the policy grants nothing")
        expanded = []
        for resource in resources:
            text = str(resource)
            for variable in _THING_VARIABLES:
                text = text.replace(variable, thing_name)
            expanded.append(text)
        mqtt = service in MQTT_STYLE_SERVICES
        return Policy(
            policy_id=policy_id,
            service=service,
            operations=frozenset(names),
            resources=tuple(expanded),
            matchers=tuple(compile_resource(r, mqtt) for r in expanded),
        )

    def is_allowed(self, service: str, operation: str, resource: str) -> bool:
        return any(
            p.service == service and p.resources and p.allows(operation, resource)
            for p in self.policies
        )

    def check(self, component: str, service: str, operation: str, resource: str) -> None:
        if not self.is_allowed(service, operation, resource):
            raise AccessDenied(
                f"Principal {component} is not authorized to perform "
                f"{service}:{OPERATION_PREFIX}{operation} on resource {resource}"
            )


def shadow_resource(thing_name: str, shadow_name: str | None) -> str:
    """The resource string ShadowManager policies are matched against."""
    base = f"$aws/things/{thing_name}/shadow"
    return f"{base}/name/{shadow_name}" if shadow_name else base
