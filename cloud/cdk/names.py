"""The names the stack gives AWS resources, and the limits CloudFormation holds them to.

Names are built from the `fleet` context and the site ids. CloudFormation refuses a name that
is too long or has a character its schema does not allow, but only at deploy time, after
synth has said all is well (CDK only warns); `check` refuses them at synth with every problem
listed. Limits from the CloudFormation resource schemas (as cfn-lint ships them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class NameRule:
    what: str  # CloudFormation type and property
    max_len: int
    pattern: re.Pattern[str]


TEMPLATE: Final = NameRule(
    "AWS::IoT::ProvisioningTemplate TemplateName", 36, re.compile(r"[0-9A-Za-z_-]+")
)
THING_GROUP: Final = NameRule(
    "AWS::IoT::ThingGroup ThingGroupName", 128, re.compile(r"[a-zA-Z0-9:_-]+")
)
ROLE_ALIAS: Final = NameRule("AWS::IoT::RoleAlias RoleAlias", 128, re.compile(r"[\w=,@-]+"))
DEPLOYMENT: Final = NameRule("AWS::GreengrassV2::Deployment DeploymentName", 256, re.compile(r".+"))


class NameRejected(ValueError):
    """A name CloudFormation would refuse; the message lists every such name and why."""


def provisioning_template(fleet: str) -> str:
    return f"{fleet}-greengrass-core"


def fleet_group(fleet: str) -> str:
    return f"{fleet}-fleet"


def site_group(fleet: str, site: str) -> str:
    return f"{fleet}-site-{site}"


def role_alias(fleet: str) -> str:
    return f"{fleet}-token-exchange"


def deployment(fleet: str, site: str) -> str:
    return f"{fleet}-{site}"


def problems(fleet: str, sites: Sequence[str]) -> list[str]:
    """What is wrong with the names `fleet` and `sites` make, one line per name."""
    names = [(TEMPLATE, provisioning_template(fleet)), (THING_GROUP, fleet_group(fleet)),
             (ROLE_ALIAS, role_alias(fleet))]  # fmt: skip
    for site in sites:
        names += [(THING_GROUP, site_group(fleet, site)), (DEPLOYMENT, deployment(fleet, site))]
    found = []
    for rule, name in names:
        if len(name) > rule.max_len:
            found.append(f"{rule.what} {name!r} is {len(name)} characters, limit {rule.max_len}")
        elif not rule.pattern.fullmatch(name):
            found.append(f"{rule.what} {name!r} has characters outside {rule.pattern.pattern}")
    return found


def check(fleet: str, sites: Sequence[str]) -> None:
    """Raise NameRejected listing every name CloudFormation would refuse."""
    found = problems(fleet, sites)
    if found:
        longest = max(len(provisioning_template("")), 1)
        raise NameRejected(
            f"fleet {fleet!r} and sites {list(sites)} make names CloudFormation refuses "
            f"(the fleet name may have at most {TEMPLATE.max_len - longest} characters):\n  "
            + "\n  ".join(found)
        )
