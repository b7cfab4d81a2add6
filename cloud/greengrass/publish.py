"""`python -m cloud.greengrass publish`: what `gdk component publish` does, for every component.

For each built component, in GDK's order:
1. `sts:GetCallerIdentity` gives the account;
2. the artifact bucket is `<prefix>-<region>-<account>`: `s3:GetBucketLocation`, and
   `s3:CreateBucket` when it does not exist yet (a bucket in another region, or someone
   else's, is an error);
3. `NEXT_PATCH` is resolved with `greengrassv2:ListComponentVersions`: the highest version in
   the account plus one patch, else 1.0.0;
4. each artifact is uploaded to `s3://<bucket>/<name>/<version>/<file>`, byte for byte the
   file in greengrass-build/ (checked against the build's SHA-256);
5. the recipe is stamped with that version and URI, written to
   `greengrass-build/recipes/<name>-<version>.yaml` (GDK's name), size-checked, and sent
   with `greengrassv2:CreateComponentVersion(inlineRecipe=...)`.
The suite goes last, its dependencies pinned to the versions just published.

Resumable: after each component version is created, `greengrass-build/published.json` notes
it (version, region, account, the artifacts' SHA-256, the suite's pins). A later publish of the
same build skips a component noted there whose version Greengrass still has
(`greengrassv2:DescribeComponent`), so a run stopped half-way is finished by running it again;
with NEXT_PATCH it does not publish the same build twice under new versions. An AWS error
stops the run with a PublishError that says which component, which step, what AWS said, what
is published and what is left (e.g. artifacts uploaded but no version created).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from cloud.greengrass import layout, recipe
from cloud.greengrass.build import BuildOutputMismatch, BuiltComponent, build, load_build
from cloud.greengrass.project import ProjectError, read_gdk_settings

FIRST_VERSION = "1.0.0"  # GDK's fallback when the account has no version yet
RECORD = "published.json"  # in the build folder: what this build has published, and where


class PublishError(ProjectError):
    """Publishing cannot go on; the message says what to change."""


@dataclass(frozen=True)
class AwsClients:
    sts: Any
    s3: Any
    greengrass: Any

    @classmethod
    def from_session(cls, session: Any) -> AwsClients:
        return cls(session.client("sts"), session.client("s3"), session.client("greengrassv2"))


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    bucket: str
    arn: str
    artifact_uris: list[str]
    recipe_path: Path
    skipped: bool = False  # published by an earlier run of this build, and still there


def artifact_bucket(prefix: str, region: str, account: str) -> str:
    return f"{prefix.strip()}-{region}-{account}"


def component_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:greengrass:{region}:{account}:components:{name}"


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Make sure `bucket` exists in `region` and is ours; True when it had to be created."""
    expected = None if region == "us-east-1" else region
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "AccessDenied":
            raise PublishError(f"bucket {bucket} exists and belongs to another account") from exc
        if code != "NoSuchBucket":
            raise
        if expected is None:
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
        return True
    if location != expected:
        raise PublishError(f"bucket {bucket} is in region {location!r}, not {region!r}")
    return False


def next_version(greengrass: Any, arn: str) -> str:
    """NEXT_PATCH for one component: highest version in the account + 1 patch, else 1.0.0."""
    versions = [
        item["componentVersion"]
        for page in greengrass.get_paginator("list_component_versions").paginate(arn=arn)
        for item in page.get("componentVersions", [])
    ]
    if not versions:
        return FIRST_VERSION
    return layout.next_patch(max(versions, key=layout.semver_key))


def version_exists(greengrass: Any, arn: str, version: str) -> bool:
    try:
        greengrass.describe_component(arn=f"{arn}:versions:{version}")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def _aws_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"


def client_token(data: bytes) -> str:
    """Idempotency token: the same recipe sent twice creates one version."""
    return hashlib.sha256(data).hexdigest()[:64]


def _ordered(built: dict[str, BuiltComponent]) -> list[BuiltComponent]:
    # Components with code first, the suite (no artifacts, only dependencies) last.
    return sorted(built.values(), key=lambda b: (b.artifact_zip is None, b.name))


def publish(
    clients: AwsClients,
    *,
    root: Path = layout.REPO_ROOT,
    build_dir: Path | None = None,
    region: str,
    bucket_prefix: str,
    version: str | None = None,
    components: Iterable[str] | None = None,
    partition: str | None = None,
) -> list[Published]:
    if not region:
        raise PublishError("no region: give --region or set publish.region in gdk-config.json")
    requested = version or read_gdk_settings(root).version
    build_dir = build_dir or root / layout.BUILD_DIR
    try:
        built = load_build(build_dir)
    except BuildOutputMismatch:
        # Like GDK's publish: build first when there is nothing (valid) to publish.
        build(root, build_dir, version=requested)
        built = load_build(build_dir)
    wanted = set(components or [])
    if wanted:
        known = {n: n for n in built} | {n.removeprefix(layout.NAME_PREFIX): n for n in built}
        missing = wanted - set(known)
        if missing:
            raise PublishError(f"not in {build_dir}: {sorted(missing)}")
        built = {known[w]: built[known[w]] for w in wanted}
    if requested != layout.NEXT_PATCH:
        stale = [b.name for b in built.values() if b.version != requested]
        if stale:
            raise PublishError(
                f"{stale} were built as another version than {requested}: build again"
            )

    partition = partition or botocore.session.get_session().get_partition_for_region(region)
    try:
        account = clients.sts.get_caller_identity()["Account"]
        bucket = artifact_bucket(bucket_prefix, region, account)
        ensure_bucket(clients.s3, bucket, region)
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"nothing published: {_aws_error(exc)}") from None

    record_path = build_dir / RECORD
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    place = f"{partition}:{region}:{account}"
    resolved: dict[str, str] = {}
    results: list[Published] = []
    for component in _ordered(built):
        arn = component_arn(partition, region, account, component.name)
        step = "looking up versions"
        try:
            done = record.get(component.name)
            deps = _suite_dependencies(component, resolved)
            if (
                done
                and done["place"] == place
                and done["sha256"] == component.sha256
                and done.get("dependencies") == deps
                and version_exists(clients.greengrass, arn, done["version"])
            ):
                resolved[component.name] = done["version"]
                results.append(Published(component.name, done["version"], bucket,
                                         f"{arn}:versions:{done['version']}", done["uris"],
                                         Path(done["recipe"]), skipped=True))  # fmt: skip
                continue
            target = requested
            if requested == layout.NEXT_PATCH:
                target = next_version(clients.greengrass, arn)
            resolved[component.name] = target
            uris = []
            step = "uploading artifacts"
            for file_name, path in sorted(component.artifacts.items()):
                key = f"{component.name}/{target}/{file_name}"
                clients.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
                uris.append(f"s3://{bucket}/{key}")
            deps = _suite_dependencies(component, resolved)
            stamped = recipe.stamp(
                component.recipe,
                name=component.name,
                version=target,
                publisher=str(component.recipe.get("ComponentPublisher", "")),
                artifact_files=component.artifacts,
                dependency_versions=deps,
                uri_prefix=recipe.publish_uri_prefix(bucket, component.name, target),
            )
            data = recipe.dump(stamped)
            recipe_path = build_dir / "recipes" / layout.publish_recipe_name(component.name, target)
            recipe.check_size(recipe_path, data)
            recipe_path.write_bytes(data)
            step = "creating the component version"
            response = clients.greengrass.create_component_version(
                inlineRecipe=data, clientToken=client_token(data)
            )
        except (ClientError, BotoCoreError) as exc:
            raise PublishError(
                _stopped(component.name, step, exc, results, built, bucket)
            ) from None
        record[component.name] = {"version": target, "place": place, "sha256": component.sha256,
                                  "dependencies": deps, "uris": uris,
                                  "recipe": str(recipe_path)}  # fmt: skip
        record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        results.append(
            Published(component.name, target, bucket, response["arn"], uris, recipe_path)
        )
    return results


def _stopped(
    name: str,
    step: str,
    exc: Exception,
    results: list[Published],
    built: dict[str, BuiltComponent],
    bucket: str,
) -> str:
    """What a stopped publish did and did not do, and how to finish it."""
    published = [f"{r.name} {r.version}" for r in results]
    left = sorted(set(built) - {r.name for r in results})
    parts = [f"{name}: {step} failed ({_aws_error(exc)})."]
    if step == "creating the component version":
        parts.append(f"Its artifacts are in s3://{bucket}/{name}/ but no version was created.")
    parts.append(f"Published: {', '.join(published) or 'nothing'}. Not published: "
                 f"{', '.join(left)}.")  # fmt: skip
    parts.append("Run the same command again to go on: what is published is skipped.")
    return " ".join(parts)


def _suite_dependencies(
    component: BuiltComponent, resolved: dict[str, str]
) -> dict[str, str] | None:
    """For the suite: each dependency at the version published now, or as built."""
    if component.artifact_zip is not None:
        return None
    pinned = {}
    for dep, spec in (component.recipe.get("ComponentDependencies") or {}).items():
        if dep in resolved:
            pinned[dep] = resolved[dep]
            continue
        built_as = str(spec.get("VersionRequirement", "")).removeprefix("=")
        if not layout.is_semver(built_as):
            raise PublishError(f"{component.name}: publish {dep} in the same run to pin it")
        pinned[dep] = built_as
    return pinned
