"""python -m cloud.greengrass build | publish | deploy | gdk-projects (see docs/gdk.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cloud.greengrass import layout
from cloud.greengrass.project import ProjectError, read_gdk_settings

console = Console()
errors = Console(stderr=True)


def _build(args: argparse.Namespace) -> int:
    from cloud.greengrass.build import build

    pins = None
    if args.gdk_layout:
        from cloud.greengrass.gdk_projects import PROJECTS_DIR, published_versions

        pins = published_versions(args.root / PROJECTS_DIR)
        for name, version in sorted(pins.items()):
            console.print(f"suite pins {name} ={version} (published by GDK from {PROJECTS_DIR}/)")
    built = build(
        args.root,
        args.out,
        version=args.version,
        components=args.component,
        gdk_layout=args.gdk_layout,
        pins=pins,
    )
    table = Table(title=f"greengrass-build: {len(built)} components")
    table.add_column("component", no_wrap=True)
    for column in ("version", "zip bytes", "zip sha256", "recipe bytes"):
        table.add_column(column, no_wrap=True)
    for b in built.values():
        zip_path = b.artifact_zip
        table.add_row(
            b.name,
            b.version,
            str(zip_path.stat().st_size) if zip_path else "-",
            b.sha256.get(layout.ARTIFACT_ZIP, "-")[:12],
            str(b.recipe_path.stat().st_size),
        )
    console.print(table)
    return 0


def _gdk_projects(args: argparse.Namespace) -> int:
    from cloud.greengrass.gdk_projects import generate

    folders = generate(args.root, args.out, version=args.version, components=args.component)
    for folder in folders:
        console.print(f"[green]OK[/green] {folder}")
    console.print(
        "Next, for each folder: [bold]cd FOLDER && gdk component build && "
        "gdk component publish[/bold]"
    )
    return 0


def _publish(args: argparse.Namespace) -> int:
    import boto3

    from cloud.greengrass.publish import AwsClients, publish

    settings = read_gdk_settings(args.root)
    region = args.region or settings.region
    session = boto3.Session(region_name=region)
    results = publish(
        AwsClients.from_session(session),
        root=args.root,
        build_dir=args.build_dir,
        region=region,
        bucket_prefix=args.bucket or settings.bucket_prefix,
        version=args.version,
        components=args.component,
    )
    for r in results:
        if r.skipped:
            console.print(f"[green]OK[/green] {r.name} {r.version} (already published by an "
                          "earlier run of this build: skipped)", soft_wrap=True)  # fmt: skip
            continue
        console.print(f"[green]OK[/green] {r.name} {r.version}", soft_wrap=True)
        for uri in r.artifact_uris:
            console.print(f"   artifact {uri}", soft_wrap=True)
        console.print(f"   component {r.arn}", soft_wrap=True)
    return 0


def _deploy(args: argparse.Namespace) -> int:
    import boto3

    from cloud.greengrass.deploy import create_deployment, deployment_request, load_site

    site = load_site(args.site, root=args.root)
    settings = read_gdk_settings(args.root)
    region = args.region or site.region or settings.region
    session = boto3.Session(region_name=region)
    account = args.account or session.client("sts").get_caller_identity()["Account"]
    request = deployment_request(
        site,
        thing_group=args.thing_group,
        region=region,
        account=account,
        partition=session.get_partition_for_region(region),
    )
    if args.dry_run:
        print(json.dumps(request, indent=2))
        return 0
    response = create_deployment(session.client("greengrassv2"), request)
    console.print(f"[green]OK[/green] deployment {response['deploymentId']} -> {args.thing_group}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cloud.greengrass", description=__doc__)
    p.add_argument("--root", type=Path, default=layout.REPO_ROOT, help="project folder")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build every component into greengrass-build/")
    b.add_argument("--out", type=Path, help="build folder (default: greengrass-build/)")
    b.add_argument("--version", help="component version (default: gdk-config.json's)")
    b.add_argument("--component", action="append", help="only this component (repeatable)")
    b.add_argument(
        "--gdk-layout",
        action="store_true",
        help="also write recipes/recipe.yaml (the suite), as GDK's custom build needs",
    )
    b.set_defaults(run=_build)

    g = sub.add_parser("gdk-projects", help="write one GDK project folder per component")
    g.add_argument("--out", type=Path, help="folder (default: gdk-projects/)")
    g.add_argument("--version", help="version for the GDK configs (e.g. NEXT_PATCH)")
    g.add_argument("--component", action="append", help="only this component (repeatable)")
    g.set_defaults(run=_gdk_projects)

    u = sub.add_parser("publish", help="upload artifacts and create component versions")
    u.add_argument("--build-dir", type=Path, help="build folder (default: greengrass-build/)")
    u.add_argument("--version", help="version to publish, or NEXT_PATCH")
    u.add_argument("--bucket", help="bucket prefix (default: gdk-config.json's)")
    u.add_argument("--region", help="AWS region (default: gdk-config.json's)")
    u.add_argument("--component", action="append", help="only this component (repeatable)")
    u.set_defaults(run=_publish)

    d = sub.add_parser("deploy", help="deploy to a thing group from a site file")
    d.add_argument("--thing-group", required=True, help="target thing group name")
    d.add_argument("--site", required=True, type=Path, help="site deployment file (YAML)")
    d.add_argument("--region", help="AWS region (default: site file, then gdk-config.json)")
    d.add_argument("--account", help="AWS account id (default: from STS)")
    d.add_argument("--dry-run", action="store_true", help="print the request, send nothing")
    d.set_defaults(run=_deploy)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ProjectError, ValueError) as exc:
        errors.print(f"[red]FAIL[/red] {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
