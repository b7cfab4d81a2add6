"""Before `deploy`: every component version the deployments will name must be published.

CloudFormation creates a Greengrass deployment whatever versions it names; a version that is
not in the account (or, for AWS's own components, not in the region) only shows up later, on
every device, as NoAvailableComponentVersion. So the deploy command asks Greengrass first
(`greengrassv2:DescribeComponent` on each version's ARN) and refuses, naming each missing one.

Which versions: those given with `--parameters`; for the others, the values the stack has now
(`cdk deploy` keeps a parameter's previous value unless told otherwise), or the template's
defaults when the stack does not exist yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from cloud.cdk.suite import VersionParameter, version_parameters

AWS_PUBLISHER_PREFIX = "aws.greengrass."  # AWS-provided components: the account is `aws`


class UnpublishedVersions(RuntimeError):
    """Versions the deployments would name that Greengrass does not have."""


def given_parameters(args: Sequence[str]) -> dict[str, str]:
    """`--parameters K=V` / `--parameters Stack:K=V` (and `--parameters=K=V`) from CLI args."""
    values: dict[str, str] = {}
    items = list(args)
    for i, arg in enumerate(items):
        value = None
        if arg == "--parameters" and i + 1 < len(items):
            value = items[i + 1]
        elif arg.startswith("--parameters="):
            value = arg.split("=", 1)[1]
        if value and "=" in value:
            key, _, val = value.partition("=")
            values[key.rsplit(":", 1)[-1]] = val
    return values


def current_parameters(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """The stack's parameter values now, or None when it does not exist."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def versions_to_deploy(
    given: Mapping[str, str],
    current: Mapping[str, str] | None,
    parameters: Sequence[VersionParameter] | None = None,
) -> dict[str, str]:
    """component name -> version the deployments will name."""
    out = {}
    for p in parameters if parameters is not None else version_parameters():
        fallback = p.default if current is None else current.get(p.parameter_id, p.default)
        out[p.component] = given.get(p.parameter_id, fallback)
    return out


def version_arn(partition: str, region: str, account: str, name: str, version: str) -> str:
    owner = "aws" if name.startswith(AWS_PUBLISHER_PREFIX) else account
    return f"arn:{partition}:greengrass:{region}:{owner}:components:{name}:versions:{version}"


def unpublished(
    greengrass: Any, *, partition: str, region: str, account: str, versions: Mapping[str, str]
) -> list[str]:
    """`name@version` of every version Greengrass does not know, sorted."""
    missing = []
    for name, version in sorted(versions.items()):
        try:
            greengrass.describe_component(
                arn=version_arn(partition, region, account, name, version)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            missing.append(f"{name}@{version}")
    return missing


def check(session: Any, stack_name: str, args: Sequence[str]) -> dict[str, str]:
    """The versions to deploy, once each is known to be published; else UnpublishedVersions."""
    identity = session.client("sts").get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    current = current_parameters(session.client("cloudformation"), stack_name)
    versions = versions_to_deploy(given_parameters(args), current)
    missing = unpublished(session.client("greengrassv2"), partition=partition,
                          region=session.region_name, account=identity["Account"],
                          versions=versions)  # fmt: skip
    if missing:
        raise UnpublishedVersions(
            "these component versions are not published in "
            f"{session.region_name}: {', '.join(missing)}. Publish them first "
            "(python -m cloud.greengrass publish) or deploy published versions "
            "(--parameters <Component>Version=x.y.z)."
        )
    return versions
