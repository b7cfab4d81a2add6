"""Deploy refuses component versions Greengrass does not have. AWS requests go through
botocore's Stubber on real clients, so their parameters are checked against the sts,
cloudformation and greengrassv2 service models."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cloud.cdk import preflight
from cloud.cdk.suite import NUCLEUS, SHADOW_MANAGER, version_parameters
from cloud.greengrass.profiles import STREAM_MANAGER

REGION, ACCOUNT = "eu-west-1", "123456789012"


class Session:
    """The two things preflight.check asks of a boto3 Session, over stubbed real clients."""

    def __init__(self) -> None:
        self.region_name = REGION
        self.clients = {
            name: boto3.client(
                name, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
            )  # fmt: skip
            for name in ("sts", "cloudformation", "greengrassv2")
        }
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}

    def client(self, name: str) -> Any:
        return self.clients[name]


def test_parameters_as_the_cdk_cli_takes_them() -> None:
    args = ["deploy", "--parameters", "UplinkVersion=1.2.0", "--parameters=Floorline:X=1",
            "--parameters", "NucleusVersion=2.15.0", "-c", "sites=a"]  # fmt: skip
    assert preflight.given_parameters(args) == {
        "UplinkVersion": "1.2.0", "X": "1", "NucleusVersion": "2.15.0"}  # fmt: skip


def test_versions_come_from_arguments_then_the_stack_then_defaults() -> None:
    params = version_parameters()
    fresh = preflight.versions_to_deploy({"UplinkVersion": "1.2.0"}, None, params)
    assert fresh["com.floorline.Uplink"] == "1.2.0"
    assert fresh[NUCLEUS] == next(p.default for p in params if p.component == NUCLEUS)
    assert set(fresh) == {p.component for p in params}
    update = preflight.versions_to_deploy({}, {"UplinkVersion": "1.1.7"}, params)
    assert update["com.floorline.Uplink"] == "1.1.7"


def _describe(stub: Stubber, arn: str, found: bool) -> None:
    if found:
        stub.add_response("describe_component", {"arn": arn}, {"arn": arn})
    else:
        stub.add_client_error("describe_component", "ResourceNotFoundException",
                              "not found", 404, expected_params={"arn": arn})  # fmt: skip


def test_unpublished_versions_are_named_and_refused() -> None:
    session = Session()
    for stub in session.stubs.values():
        stub.activate()
    session.stubs["sts"].add_response(
        "get_caller_identity",
        {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "UserId": "AIDEXAMPLE"},
    )
    session.stubs["cloudformation"].add_client_error(
        "describe_stacks", "ValidationError", "Stack with id Floorline does not exist", 400
    )
    versions = preflight.versions_to_deploy({"UplinkVersion": "9.9.9"}, None)
    published = {NUCLEUS, SHADOW_MANAGER, STREAM_MANAGER}  # AWS's own, under account `aws`
    for name, version in sorted(versions.items()):
        arn = preflight.version_arn("aws", REGION, ACCOUNT, name, version)
        assert (":aws:components:" in arn) == (name in published)
        _describe(session.stubs["greengrassv2"], arn, name in published)
    with pytest.raises(preflight.UnpublishedVersions) as caught:
        preflight.check(session, "Floorline", ["deploy", "--parameters", "UplinkVersion=9.9.9"])
    assert "com.floorline.Uplink@9.9.9" in str(caught.value)
    assert NUCLEUS not in str(caught.value)
    for stub in session.stubs.values():
        stub.assert_no_pending_responses()


def test_all_published_passes_and_returns_the_versions() -> None:
    session = Session()
    greengrass = session.stubs["greengrassv2"]
    greengrass.activate()
    versions = preflight.versions_to_deploy({}, {"UplinkVersion": "1.1.7"})
    for name, version in sorted(versions.items()):
        _describe(greengrass, preflight.version_arn("aws", REGION, ACCOUNT, name, version), True)
    assert preflight.unpublished(session.client("greengrassv2"), partition="aws", region=REGION,
                                 account=ACCOUNT, versions=versions) == []  # fmt: skip
    greengrass.assert_no_pending_responses()
