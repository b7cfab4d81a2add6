"""The CDK app: `python -m cloud.cdk.app` synthesizes; the pinned CDK CLI deploys it.

Context (cdk.json or `-c`): `sites` (comma-separated site ids, one thing group and one Athena
partition value each; `plant-b:lite` marks a site whose devices run Greengrass nucleus lite, so
its deployment follows the lite profile of cloud/greengrass/profiles.py) and `fleet` (name
prefix of thing groups, role alias, template).
Every synth runs cdk-nag's AwsSolutions checks; a finding that is neither fixed nor
acknowledged with a reason (nag.py) fails the synth. `main` (what `cdk synth` runs) also
refuses names CloudFormation would refuse (names.py) and lints the templates it wrote with
cfn-lint: a bad name or any cfn-lint error ends it with a message and exit status 1, so the
CLI's synth and deploy stop there instead of failing in CloudFormation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cloud.cdk import names
from cloud.cdk.nag import acknowledge_findings
from cloud.cdk.stack import FloorlineStack
from cloud.greengrass.profiles import CLASSIC, profile_named

STACK_ID = "Floorline"
DEFAULT_SITES = ("site-1",)
# Feature flags the stack relies on (also in cdk.json, for the CLI).
FEATURE_FLAGS = {
    # Grant S3 log delivery through a bucket policy, not the legacy LogDeliveryWrite ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def sites_from_context(value: object) -> dict[str, str]:
    """Context `sites` as given on the command line ("a,b:lite") or in cdk.json (a list):
    each site id with the nucleus profile of its thing group (classic unless `:<profile>`)."""
    if value is None:
        value = DEFAULT_SITES
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    plan: dict[str, str] = {}
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        site, _, nucleus = (part.strip() for part in item.partition(":"))
        if site in plan:
            raise ValueError(f"context 'sites' repeats site {site!r}: {value!r}")
        try:
            plan[site] = profile_named(nucleus or CLASSIC).name
        except ValueError as exc:
            raise ValueError(f"context 'sites' entry {item!r}: {exc}") from None
    if not plan:
        raise ValueError(f"context 'sites' names no site: {value!r}")
    return plan


def build_app(
    *,
    rules: Iterable[Any],
    sites: Sequence[str] | None = None,  # entries as in the `sites` context
    outdir: str | None = None,
    context: dict[str, Any] | None = None,
) -> tuple[cdk.App, FloorlineStack]:
    app = cdk.App(outdir=outdir, context={**FEATURE_FLAGS, **(context or {})})
    chosen = sites_from_context(sites or app.node.try_get_context("sites"))
    fleet = app.node.try_get_context("fleet") or "floorline"
    names.check(fleet, list(chosen))  # NameRejected before any construct exists
    stack = FloorlineStack(
        app,
        STACK_ID,
        sites=chosen,
        rules=rules,
        fleet=fleet,
        description="floorline: IoT rules, lake (Kinesis, Firehose, S3, Glue, Athena), fleet",
    )
    stack.acknowledgments = acknowledge_findings(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack


def lint_errors(outdir: Path) -> list[str]:
    """cfn-lint's errors (E rules) over every template in a cloud assembly."""
    from cfnlint.api import lint_file

    return [
        f"{path.name}: {match}"
        for path in sorted(outdir.glob("*.template.json"))
        for match in lint_file(path)
        if match.rule.id.startswith("E")
    ]


def main() -> int:
    from cloud.rules.definitions import RULES

    try:
        app, _ = build_app(rules=RULES)
    except ValueError as exc:  # NameRejected, a bad `sites` context
        print(f"FAIL synth: {exc}", file=sys.stderr)
        return 1
    assembly = app.synth()
    errors = lint_errors(Path(assembly.directory))
    for error in errors:
        print(f"FAIL cfn-lint: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
