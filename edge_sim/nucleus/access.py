"""IPC authorization from a recipe's `accessControl`, matched the way each Greengrass nucleus does.

accessControl = {service: {policyId: {"policyDescription": ..., "operations": [...],
                                      "resources": [...]}}}

- A policy belongs to the component whose recipe holds it (the principal).
- `operations` are `aws.greengrass#<Operation>` or `*` (every operation of that service).
- Resources are patterns; `*` matches any characters, `/` included, on both nuclei. The rest
  depends on the nucleus (`FLAVOURS`), and the requested topic (or filter) is always matched
  as a literal string (a subscription to `a/+/c` is allowed by `a/+/c` or `a/*`):

  classic (aws-greengrass-nucleus: `authorization/WildcardTrie.java`, `AuthorizationHandler
  .ResourceLookupPolicy`): local pub/sub and ShadowManager resources are STANDARD, `+` and `#`
  literal characters; IoT Core (mqttproxy) resources are MQTT_STYLE, `+` and `#` wildcards where
  MQTT allows them (`a/#` also covers `a`). `${*}`, `${?}`, `${$}` escape one character; any
  other `${` and an unescaped `?` make that resource invalid (ignored, reported).
  `{iot:thingName}` is substituted only with `interpolateComponentConfiguration: true`.

  lite (aws-greengrass-lite 2.6.0, `modules/ggipcd/src/ipc_authz.c`, `services/mqttproxy/
  mqttproxy.c`): `${` starts an escape that runs to the next `}` (`${iot:thingName}` is the text
  `iot:thingName`); `?` is an ordinary character; mqttproxy resources also match as MQTT
  filters, where `+` skips any run of non-`/` characters and `#` matches the rest (`a/#` does
  not cover `a`). `{iot:thingName}` is never substituted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

MQTT_PROXY: Final = "aws.greengrass.ipc.mqttproxy"
PUBSUB: Final = "aws.greengrass.ipc.pubsub"
SHADOW_MANAGER: Final = "aws.greengrass.ShadowManager"

OPERATION_PREFIX: Final = "aws.greengrass#"
ANY: Final = "*"

CLASSIC: Final = "classic"
LITE: Final = "lite"
FLAVOURS: Final = (CLASSIC, LITE)

# The operations each destination service answers; a policy naming another is ignored.
SERVICE_OPERATIONS: Final[Mapping[str, frozenset[str]]] = {
    MQTT_PROXY: frozenset({"PublishToIoTCore", "SubscribeToIoTCore"}),
    PUBSUB: frozenset({"PublishToTopic", "SubscribeToTopic"}),
    SHADOW_MANAGER: frozenset(
        {"GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListNamedShadowsForThing"}
    ),
}
# Services whose resources the nuclei also match as MQTT topic filters.
MQTT_STYLE_SERVICES: Final = frozenset({MQTT_PROXY})

THING_VARIABLE: Final = "{iot:thingName}"
# The classic nucleus's escapes: `${c}` for these characters only.
CLASSIC_ESCAPABLE: Final = frozenset("*?$")

Matcher = Callable[[str], bool]


class PolicyError(ValueError):
    """An accessControl document that cannot be used; `.evidence` holds the part at fault."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class InvalidResource(PolicyError):
    """A resource pattern the nucleus refuses (the rest of its policy still applies)."""


class AccessDenied(PermissionError):
    """The request is outside every policy of the component (IPC answers UnauthorizedError)."""


def _level_bounds(pattern: str, index: int) -> tuple[bool, bool]:
    starts = index == 0 or pattern[index - 1] == "/"
    ends = index == len(pattern) - 1 or pattern[index + 1] == "/"
    return starts, ends


def compile_resource(pattern: str, mqtt_style: bool) -> re.Pattern[str]:
    """A classic-nucleus resource pattern as an anchored regular expression over the requested
    resource; InvalidResource where the classic nucleus refuses the pattern."""
    if pattern == ANY or (mqtt_style and pattern == "#"):
        return re.compile(r".*", re.S)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "$" and pattern.startswith("${", i):
            if (
                i + 3 < len(pattern)
                and pattern[i + 3] == "}"
                and pattern[i + 2] in CLASSIC_ESCAPABLE
            ):
                out.append(re.escape(pattern[i + 2]))
                i += 4
                continue
            raise InvalidResource(
                f"resource {pattern!r}: '${{' must start ${{*}}, ${{?}} or ${{$}}", pattern
            )
        if char == "?":
            raise InvalidResource(f"resource {pattern!r}: an unescaped '?' (write ${{?}})", pattern)
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


def lite_glob(pattern: str) -> re.Pattern[str]:
    """Nucleus lite's glob: `*` any characters, `${...}` literal text up to the next `}`."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("${", i):
            close = pattern.find("}", i + 2)
            close = len(pattern) if close < 0 else close
            out.append(re.escape(pattern[i + 2 : close]))
            i = close + 1
            continue
        out.append(".*" if pattern[i] == "*" else re.escape(pattern[i]))
        i += 1
    return re.compile("".join(out), re.S)


def lite_filter_match(resource: str, policy_filter: str) -> bool:
    """Nucleus lite's MQTT reading of a mqttproxy policy resource (applied to the raw text):
    `+` skips any run of characters up to a `/`, `#` accepts whatever is left."""
    j = 0
    for char in policy_filter:
        if char == "+":
            while j < len(resource) and resource[j] != "/":
                j += 1
        elif char == "#":
            return True
        else:
            if j >= len(resource) or resource[j] != char:
                return False
            j += 1
    return j == len(resource)


def resource_matcher(pattern: str, service: str, flavour: str = CLASSIC) -> Matcher:
    """The test one policy resource applies to a requested resource, as `flavour` reads it."""
    mqtt = service in MQTT_STYLE_SERVICES
    if flavour == CLASSIC:
        regex = compile_resource(pattern, mqtt)
        return lambda resource: regex.fullmatch(resource) is not None
    if flavour != LITE:
        raise ValueError(f"unknown nucleus flavour {flavour!r}; one of {FLAVOURS}")
    glob = lite_glob(pattern)
    if not mqtt:
        return lambda resource: glob.fullmatch(resource) is not None
    return lambda resource: (
        glob.fullmatch(resource) is not None or lite_filter_match(resource, pattern)
    )


@dataclass(frozen=True)
class Policy:
    policy_id: str
    service: str
    operations: frozenset[str]  # bare names ("PublishToIoTCore") or "*"
    resources: tuple[str, ...]  # the usable ones, as written (after any interpolation)
    matchers: tuple[Matcher, ...]

    def allows(self, operation: str, resource: str | None) -> bool:
        if ANY not in self.operations and operation not in self.operations:
            return False
        if resource is None:
            return True
        return any(m(resource) for m in self.matchers)


class AccessPolicy:
    """Every IPC policy of one component, ready to answer `check`, as one nucleus reads them.

    `interpolate` is the classic nucleus's `interpolateComponentConfiguration` (default false):
    only then does `{iot:thingName}` in a resource become `thing_name`."""

    def __init__(
        self,
        access_control: Mapping[str, Any] | None,
        thing_name: str = "",
        *,
        flavour: str = CLASSIC,
        interpolate: bool = False,
    ) -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown nucleus flavour {flavour!r}; one of {FLAVOURS}")
        if interpolate and flavour == LITE:
            raise ValueError("nucleus lite never interpolates component configuration")
        self.flavour = flavour
        self.policies: list[Policy] = []
        self.warnings: list[str] = []  # policies, operations, resources the nucleus ignores
        for service, by_id in (access_control or {}).items():
            if not isinstance(by_id, Mapping):
                raise PolicyError(f"accessControl[{service!r}] is not a map", by_id)
            for policy_id, body in by_id.items():
                self.policies.append(
                    self._parse(service, str(policy_id), body, thing_name if interpolate else None)
                )

    def _parse(self, service: str, policy_id: str, body: Any, thing_name: str | None) -> Policy:
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
        kept: list[str] = []
        matchers: list[Matcher] = []
        for resource in resources:
            text = str(resource)
            if thing_name is not None:
                text = text.replace(THING_VARIABLE, thing_name)
            try:
                matchers.append(resource_matcher(text, service, self.flavour))
            except InvalidResource as exc:
                self.warnings.append(f"{policy_id}: {exc}")
                continue
            kept.append(text)
        return Policy(policy_id, service, frozenset(names), tuple(kept), tuple(matchers))

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
