"""Publish as GDK does. Every AWS request goes through botocore's Stubber on real clients, so
its parameters are validated against the sts, s3 and greengrassv2 service models; the S3 round
trip runs against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber
from moto import mock_aws

from cloud.greengrass import layout
from cloud.greengrass.build import build, load_build
from cloud.greengrass.publish import (
    AwsClients,
    PublishError,
    client_token,
    ensure_bucket,
    next_version,
    publish,
)

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = f"floorline-components-{REGION}-{ACCOUNT}"
ARN = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:"


def _client(service: str, region: str = REGION) -> Any:
    return boto3.client(
        service, region_name=region, aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture
def stubbed() -> tuple[AwsClients, dict[str, Stubber]]:
    clients = AwsClients(_client("sts"), _client("s3"), _client("greengrassv2"))
    stubs = {
        "sts": Stubber(clients.sts),
        "s3": Stubber(clients.s3),
        "gg": Stubber(clients.greengrass),
    }
    for stub in stubs.values():
        stub.activate()
    yield clients, stubs
    for stub in stubs.values():
        stub.deactivate()


def _identity(stub: Stubber) -> None:
    stub.add_response(
        "get_caller_identity",
        {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "UserId": "AIDEXAMPLE"},
        {},
    )


def _created(stub: Stubber, name: str, version: str) -> None:
    stub.add_response(
        "create_component_version",
        {
            "arn": f"{ARN}{name}:versions:{version}",
            "componentName": name,
            "componentVersion": version,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "status": {"componentState": "REQUESTED", "message": "requested", "errors": {}},
        },
        {"inlineRecipe": ANY, "clientToken": ANY},
    )


def _exists(stub: Stubber, name: str, version: str) -> None:
    arn = f"{ARN}{name}:versions:{version}"
    stub.add_response("describe_component", {"arn": arn}, {"arn": arn})


def test_a_failed_publish_says_what_is_done_and_a_rerun_finishes_it(tree: Path) -> None:
    """Real S3 (moto); Greengrass refuses the second component's version once."""
    with mock_aws():
        gg = _client("greengrassv2")
        clients = AwsClients(_client("sts"), _client("s3"), gg)
        build(tree, components=["Console", "Uplink"])
        with Stubber(gg) as stub:
            _created(stub, "com.floorline.Console", "0.1.0")
            stub.add_client_error("create_component_version", "ServiceQuotaExceededException",
                                  "component versions quota reached", 402)  # fmt: skip
            with pytest.raises(PublishError) as stopped:
                publish(clients, root=tree, region=REGION, bucket_prefix="floorline-components")
        message = str(stopped.value)
        assert message.startswith(
            "com.floorline.Uplink: creating the component version failed "
            "(ServiceQuotaExceededException: component versions quota"
        )
        assert "artifacts are in s3://floorline-components-" in message
        assert (
            "Published: com.floorline.Console 0.1.0. Not published: com.floorline.Uplink."
            in message
        )
        with Stubber(gg) as stub:
            _exists(stub, "com.floorline.Console", "0.1.0")
            _created(stub, "com.floorline.Uplink", "0.1.0")
            done = publish(clients, root=tree, region=REGION, bucket_prefix="floorline-components")
            stub.assert_no_pending_responses()
    assert [(r.name, r.skipped) for r in done] == [
        ("com.floorline.Console", True),
        ("com.floorline.Uplink", False),
    ]


def test_a_noted_version_gone_from_the_account_is_published_again(tree: Path) -> None:
    with mock_aws():
        gg = _client("greengrassv2")
        clients = AwsClients(_client("sts"), _client("s3"), gg)
        build(tree, components=["Console"])
        with Stubber(gg) as stub:
            _created(stub, "com.floorline.Console", "0.1.0")
            publish(clients, root=tree, region=REGION, bucket_prefix="floorline-components")
        with Stubber(gg) as stub:  # someone deleted it
            stub.add_client_error("describe_component", "ResourceNotFoundException", "gone", 404)
            _created(stub, "com.floorline.Console", "0.1.0")
            (again,) = publish(clients, root=tree, region=REGION,
                               bucket_prefix="floorline-components")  # fmt: skip
            stub.assert_no_pending_responses()
    assert not again.skipped


@pytest.mark.slow
def test_publish_fixed_version(tree: Path, stubbed: tuple[AwsClients, dict[str, Stubber]]) -> None:
    clients, stubs = stubbed
    built = build(tree)
    _identity(stubs["sts"])
    stubs["s3"].add_response(
        "get_bucket_location", {"LocationConstraint": REGION}, {"Bucket": BUCKET}
    )
    ordered = sorted(built.values(), key=lambda b: (b.artifact_zip is None, b.name))
    for b in ordered:
        for file_name, path in sorted(b.artifacts.items()):  # the code, then each platform's
            stubs["s3"].add_response(
                "put_object",
                {"ETag": '"x"'},
                {"Bucket": BUCKET, "Key": f"{b.name}/0.1.0/{file_name}", "Body": path.read_bytes()},
            )
        _created(stubs["gg"], b.name, "0.1.0")
    sent: list[bytes] = []
    clients.greengrass.meta.events.register(
        "before-parameter-build.greengrassv2.CreateComponentVersion",
        lambda params, **_: sent.append(params["inlineRecipe"]),
    )
    results = publish(clients, root=tree, region=REGION, bucket_prefix="floorline-components")
    for stub in stubs.values():
        stub.assert_no_pending_responses()
    assert [r.name for r in results] == [b.name for b in ordered]
    assert results[-1].name == "com.floorline.Suite"  # after its dependencies
    recipes = {r["ComponentName"]: r for r in (yaml.safe_load(d) for d in sent)}
    sensors = recipes["com.floorline.Sensors"]
    assert sensors["ComponentVersion"] == "0.1.0"
    uri = f"s3://{BUCKET}/com.floorline.Sensors/0.1.0/"
    assert [a["Uri"] for m in sensors["Manifests"] for a in m["Artifacts"]] == [
        f"{uri}{f}"
        for f in ("floorline.zip", "wheels-aarch64.zip", "floorline.zip", "wheels-amd64.zip")
    ]
    written = tree / "greengrass-build/recipes/com.floorline.Sensors-0.1.0.yaml"
    assert written.read_bytes() in sent  # GDK's publish recipe file, as sent
    deps = recipes["com.floorline.Suite"]["ComponentDependencies"]
    assert {d["VersionRequirement"] for d in deps.values()} == {"=0.1.0"}


@pytest.mark.slow
def test_next_patch_resolution(tree: Path, stubbed: tuple[AwsClients, dict[str, Stubber]]) -> None:
    clients, stubs = stubbed
    build(tree, version="NEXT_PATCH")
    _identity(stubs["sts"])
    stubs["s3"].add_client_error("get_bucket_location", "NoSuchBucket", http_status_code=404)
    stubs["s3"].add_response(
        "create_bucket",
        {"Location": f"/{BUCKET}"},
        {"Bucket": BUCKET, "CreateBucketConfiguration": {"LocationConstraint": REGION}},
    )
    names = sorted(n for n in load_build(tree / "greengrass-build") if n != "com.floorline.Suite")
    expected: dict[str, str] = {}
    for index, name in enumerate(names):
        arn = ARN + name
        if index == 0:  # two pages; highest by semver, not by text: 1.0.10 > 1.0.9
            page1 = [
                {"componentName": name, "componentVersion": v, "arn": f"{arn}:versions:{v}"}
                for v in ("1.0.9", "1.0.3")
            ]
            stubs["gg"].add_response(
                "list_component_versions",
                {"componentVersions": page1, "nextToken": "t"},
                {"arn": arn},
            )
            stubs["gg"].add_response(
                "list_component_versions",
                {
                    "componentVersions": [
                        {
                            "componentName": name,
                            "componentVersion": "1.0.10",
                            "arn": f"{arn}:versions:1.0.10",
                        }
                    ]
                },
                {"arn": arn, "nextToken": "t"},
            )
            expected[name] = "1.0.11"
        else:  # never published: GDK starts at 1.0.0
            stubs["gg"].add_response(
                "list_component_versions", {"componentVersions": []}, {"arn": arn}
            )
            expected[name] = "1.0.0"
        for file_name in ("floorline.zip", "wheels-aarch64.zip", "wheels-amd64.zip"):
            stubs["s3"].add_response(
                "put_object",
                {"ETag": '"x"'},
                {"Bucket": BUCKET, "Key": f"{name}/{expected[name]}/{file_name}", "Body": ANY},
            )
        _created(stubs["gg"], name, expected[name])
    suite_arn = ARN + "com.floorline.Suite"
    stubs["gg"].add_response(
        "list_component_versions",
        {
            "componentVersions": [
                {
                    "componentName": "com.floorline.Suite",
                    "componentVersion": "3.1.4",
                    "arn": f"{suite_arn}:versions:3.1.4",
                }
            ]
        },
        {"arn": suite_arn},
    )
    _created(stubs["gg"], "com.floorline.Suite", "3.1.5")
    results = publish(
        clients,
        root=tree,
        region=REGION,
        bucket_prefix="floorline-components",
        version="NEXT_PATCH",
    )
    for stub in stubs.values():
        stub.assert_no_pending_responses()
    assert {r.name: r.version for r in results} == {**expected, "com.floorline.Suite": "3.1.5"}
    suite = yaml.safe_load(results[-1].recipe_path.read_bytes())
    assert {d: s["VersionRequirement"] for d, s in suite["ComponentDependencies"].items()} == {
        n: f"={v}" for n, v in expected.items()
    }


def test_bucket_in_us_east_1_has_no_location_constraint() -> None:
    s3 = _client("s3", "us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error("get_bucket_location", "NoSuchBucket", http_status_code=404)
        stub.add_response("create_bucket", {}, {"Bucket": "b-us-east-1-1"})
        assert ensure_bucket(s3, "b-us-east-1-1", "us-east-1") is True
        stub.add_response("get_bucket_location", {}, {"Bucket": "b-us-east-1-1"})
        assert ensure_bucket(s3, "b-us-east-1-1", "us-east-1") is False


@pytest.mark.parametrize(
    ("error", "location", "match"),
    [("AccessDenied", None, "another account"), (None, "us-west-2", "is in region")],
)
def test_a_bucket_we_cannot_use_is_an_error(
    error: str | None, location: str | None, match: str
) -> None:
    s3 = _client("s3")
    with Stubber(s3) as stub:
        if error:
            stub.add_client_error("get_bucket_location", error, http_status_code=403)
        else:
            stub.add_response(
                "get_bucket_location", {"LocationConstraint": location}, {"Bucket": "b"}
            )
        with pytest.raises(PublishError, match=match):
            ensure_bucket(s3, "b", REGION)


def test_next_version_of_a_prerelease() -> None:
    gg = _client("greengrassv2")
    with Stubber(gg) as stub:
        versions = [
            {"componentName": "c", "componentVersion": v, "arn": f"{ARN}c:versions:{v}"}
            for v in ("2.0.0-rc.1", "1.9.9")
        ]
        stub.add_response(
            "list_component_versions", {"componentVersions": versions}, {"arn": ARN + "c"}
        )
        assert next_version(gg, ARN + "c") == "2.0.1"


@pytest.mark.slow
def test_a_build_of_another_version_is_not_published(
    tree: Path, stubbed: tuple[AwsClients, dict[str, Stubber]]
) -> None:
    clients, _ = stubbed
    build(tree, version="0.0.9")
    with pytest.raises(PublishError, match="build again"):
        publish(clients, root=tree, region=REGION, bucket_prefix="p", version="0.1.0")


def test_client_token_fits_the_model() -> None:
    token = client_token(b"recipe")
    assert 1 <= len(token) <= 64 and token.isalnum()


@mock_aws
def test_s3_round_trip_with_moto(tree: Path) -> None:
    """Real S3 semantics (moto): the bucket is created and holds byte for byte the build."""
    gg = _client("greengrassv2")
    clients = AwsClients(_client("sts"), _client("s3"), gg)
    built = build(tree, components=["Uplink"])
    with Stubber(gg) as stub:  # moto has no greengrassv2
        _created(stub, "com.floorline.Uplink", "0.1.0")
        results = publish(clients, root=tree, region=REGION, bucket_prefix="floorline-components")
    bucket = f"floorline-components-{REGION}-{ACCOUNT}"
    assert results[0].bucket == bucket
    s3 = _client("s3")
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION
    body = s3.get_object(Bucket=bucket, Key="com.floorline.Uplink/0.1.0/floorline.zip")["Body"]
    assert body.read() == built["com.floorline.Uplink"].artifact_zip.read_bytes()
    for file_name, path in built["com.floorline.Uplink"].artifacts.items():
        body = s3.get_object(Bucket=bucket, Key=f"com.floorline.Uplink/0.1.0/{file_name}")["Body"]
        assert body.read() == path.read_bytes()
    prefix = f"s3://{bucket}/com.floorline.Uplink/0.1.0/"
    assert results[0].artifact_uris == [
        f"{prefix}{f}" for f in ("floorline.zip", "wheels-aarch64.zip", "wheels-amd64.zip")
    ]
    # A second publish finds the bucket and does not try to create it again, and skips the
    # version this build already published (Greengrass confirms it is there).
    with Stubber(gg) as stub:
        _exists(stub, "com.floorline.Uplink", "0.1.0")
        again = publish(clients, root=tree, region=REGION, bucket_prefix="floorline-components")
        stub.assert_no_pending_responses()
    assert [(r.name, r.version, r.skipped) for r in again] == [
        ("com.floorline.Uplink", "0.1.0", True)
    ]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [bucket]
    assert layout.ARTIFACT_ZIP == "floorline.zip"


@mock_aws
def test_cli_publish(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloud.greengrass.__main__ import main

    for var, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(var, value)
    gg = _client("greengrassv2")
    real = AwsClients.from_session.__func__

    def with_stubbed_greengrass(cls: type, session: Any) -> AwsClients:
        clients = real(cls, session)  # sts and s3 from the CLI's own session (moto)
        return AwsClients(clients.sts, clients.s3, gg)

    monkeypatch.setattr(AwsClients, "from_session", classmethod(with_stubbed_greengrass))
    build(tree, components=["Console"])
    with Stubber(gg) as stub:
        _created(stub, "com.floorline.Console", "0.1.0")
        code = main(["--root", str(tree), "publish", "--region", REGION, "--bucket", "cli"])
        stub.assert_no_pending_responses()
    assert code == 0
    out = capsys.readouterr().out
    assert f"s3://cli-{REGION}-{ACCOUNT}/com.floorline.Console/0.1.0/floorline.zip" in out
