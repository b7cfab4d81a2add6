"""Thing-group deployments from a site file: the request, its checks, and the real client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from cloud.greengrass import layout
from cloud.greengrass.__main__ import main
from cloud.greengrass.deploy import (
    SiteFileError,
    create_deployment,
    deployment_request,
    load_site,
)

EXAMPLE = layout.REPO_ROOT / "cloud/greengrass/sites/example.yaml"
ACCOUNT = "123456789012"


def _request(path: Path = EXAMPLE, **overrides: str) -> dict:
    site = load_site(path)
    args = {"thing_group": "plant-a-line-1", "region": "eu-west-1", "account": ACCOUNT}
    return deployment_request(site, **(args | overrides))


def _site(tmp_path: Path, edit) -> Path:  # noqa: ANN001 - a small editing callback
    data = yaml.safe_load(EXAMPLE.read_text())
    edit(data)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_example_site_request() -> None:
    request = _request()
    assert request["targetArn"] == f"arn:aws:iot:eu-west-1:{ACCOUNT}:thinggroup/plant-a-line-1"
    assert request["deploymentPolicies"]["failureHandlingPolicy"] == "ROLLBACK"
    assert request["deploymentPolicies"]["componentUpdatePolicy"] == {
        "timeoutInSeconds": 120,
        "action": "NOTIFY_COMPONENTS",
    }
    components = request["components"]
    assert components["com.floorline.Uplink"]["componentVersion"] == "0.1.0"
    uplink = json.loads(components["com.floorline.Uplink"]["configurationUpdate"]["merge"])
    assert uplink == {"kinesisStreamName": "floorline-raw-plant-a", "siteId": "plant-a"}
    console = json.loads(components["com.floorline.Console"]["configurationUpdate"]["merge"])
    assert console == {"siteId": "plant-a"}  # the site, merged where the recipe has siteId
    assert "configurationUpdate" not in components["com.floorline.HttpIngest"]
    assert components["com.floorline.Analytics"]["configurationUpdate"] == {"reset": ["/detectors"]}
    rollout = request["iotJobConfiguration"]
    assert rollout["jobExecutionsRolloutConfig"]["maximumPerMinute"] == 20
    assert rollout["abortConfig"]["criteriaList"][0]["failureType"] == "FAILED"
    assert rollout["timeoutConfig"] == {"inProgressTimeoutInMinutes": 120}
    assert _request()["clientToken"] == request["clientToken"]  # same file, same token


def test_the_real_client_accepts_the_request() -> None:
    client = boto3.client(
        "greengrassv2",
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    request = _request()
    with Stubber(client) as stub:  # validates every parameter against the service model
        stub.add_response(
            "create_deployment",
            {"deploymentId": "d-1", "iotJobId": "j-1", "iotJobArn": "arn:aws:iot:::job/j-1"},
            request,
        )
        assert create_deployment(client, request)["deploymentId"] == "d-1"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda d: d["components"]["com.floorline.Sensors"]["merge"].update(sampleRateHz=5),
            "no configuration key",
        ),
        (
            lambda d: d["components"]["com.floorline.Uplink"]["merge"].update(accessControl={}),
            "accessControl",
        ),
        (
            lambda d: d["components"]["com.floorline.Rfid"].update(reset=["/nope"]),
            "names no configuration key",
        ),
        (
            lambda d: d["components"]["com.floorline.Rfid"].update(version="latest"),
            "not an exact semver",
        ),
        (
            lambda d: d["components"].update({"com.floorline.Nope": {"version": "1.0.0"}}),
            "not a floorline component",
        ),
        (
            lambda d: d["components"]["com.floorline.Uplink"]["merge"].update(siteId="other"),
            "siteId differs",
        ),
        (lambda d: d.update(rollouts={}), "unknown key"),
        (lambda d: d["rollout"].update(maximumPerMinute="fast"), "request is invalid"),
        (lambda d: d.update(site="plant a"), "site"),
        (lambda d: d.update(components={}), "no components"),
    ],
)
def test_site_file_mistakes_fail_before_sending(tmp_path: Path, edit, match: str) -> None:  # noqa: ANN001
    with pytest.raises(SiteFileError, match=match):
        _request(_site(tmp_path, edit))


def test_bad_thing_group_name() -> None:
    with pytest.raises(SiteFileError, match="thing group"):
        _request(thing_group="plant a/line")


def test_dry_run_prints_the_request(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "deploy",
            "--thing-group",
            "plant-a-line-1",
            "--site",
            str(EXAMPLE),
            "--account",
            ACCOUNT,
            "--region",
            "eu-west-1",
            "--dry-run",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == _request()


def test_values_are_checked_against_the_component_spec(tmp_path: Path) -> None:
    from components.sensors.config import SPEC as spec

    specs = {"com.floorline.Sensors": spec}
    load_site(EXAMPLE, specs=specs)  # the example's values pass
    slow = _site(
        tmp_path,
        lambda d: d["components"]["com.floorline.Sensors"]["merge"].update(
            sampleIntervalSeconds=0.0
        ),
    )
    with pytest.raises(SiteFileError, match="sampleIntervalSeconds"):
        load_site(slow, specs=specs)
    typo = _site(
        tmp_path, lambda d: d["components"]["com.floorline.Sensors"]["merge"].update(i2cBus="one")
    )
    with pytest.raises(SiteFileError, match="i2cBus"):
        load_site(typo, specs=specs)


# --- the nucleus profile ------------------------------------------------------------------------

SITES = layout.REPO_ROOT / "cloud" / "greengrass" / "sites"


def _site_text(name: str) -> str:
    return (SITES / name).read_text()


def test_lite_profile_sets_the_uplink_up_for_nucleus_lite(tmp_path: Path) -> None:
    from cloud.greengrass.deploy import UPLINK, load_site
    from components.core.limits import LITE_IOT_PAYLOAD_MAX_BYTES

    site = load_site(SITES / "example-lite.yaml")
    assert site.nucleus == "lite"
    uplink = site.components[UPLINK].merge
    assert uplink["useKinesis"] is False
    assert uplink["iotMaxMessageBytes"] == LITE_IOT_PAYLOAD_MAX_BYTES
    assert not any(name.startswith("aws.greengrass.") for name in site.components)


@pytest.mark.parametrize(
    ("edit", "finding"),
    [
        (
            lambda t: t.replace(
                "  com.floorline.Console:\n",
                "  aws.greengrass.StreamManager:\n    version: 2.2.1\n  com.floorline.Console:\n",
            ),
            "cannot run on nucleus lite",
        ),
        (
            lambda t: t.replace(
                "  com.floorline.Uplink:\n    version: 0.1.0\n",
                "  com.floorline.Uplink:\n    version: 0.1.0\n    merge:\n      useKinesis: true\n",
            ),
            "needs useKinesis: False",
        ),
        (
            lambda t: t.replace(
                "  com.floorline.Uplink:\n    version: 0.1.0\n",
                "  com.floorline.Uplink:\n    version: 0.1.0\n    merge:\n"
                "      iotMaxMessageBytes: 65536\n",
            ),
            "iotMaxMessageBytes is at most",
        ),
        (lambda t: t.replace("nucleus: lite", "nucleus: tiny"), "must be one of"),
    ],
)
def test_lite_profile_refusals(tmp_path: Path, edit: Any, finding: str) -> None:
    from cloud.greengrass.deploy import SiteFileError, load_site

    path = tmp_path / "site.yaml"
    path.write_text(edit(_site_text("example-lite.yaml")))
    with pytest.raises(SiteFileError, match=finding):
        load_site(path)


def test_classic_uplink_with_kinesis_needs_stream_manager(tmp_path: Path) -> None:
    from cloud.greengrass.deploy import SiteFileError, load_site

    text = _site_text("example.yaml")
    start = text.index("  aws.greengrass.StreamManager:")
    path = tmp_path / "site.yaml"
    path.write_text(text[:start] + text[start:].split("\n", 2)[2])
    with pytest.raises(SiteFileError, match="add aws.greengrass.StreamManager"):
        load_site(path)
    path.write_text(text.replace("kinesisStreamName: floorline-raw-plant-a", "useKinesis: false"))
    assert load_site(path).nucleus == "classic"
