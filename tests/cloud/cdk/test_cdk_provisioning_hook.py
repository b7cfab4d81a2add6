"""The pre-provisioning hook: a leaked claim certificate cannot take over a registered device."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.cdk import iot_policy
from cloud.cdk.lambda_asset import PROVISIONING_HOOK_HANDLER, code_dir, module_closure
from cloud.cdk.provisioning_hook import handler

SITES = frozenset({"plant-a", "plant-b"})
EXISTING = {"dev-1"}


def request(**params: object) -> dict:
    return {
        "claimCertificateId": "claim-1",
        "certificateId": "cert-9",
        "templateArn": "arn:aws:iot:eu-west-1:1:provisioningtemplate/floorline-greengrass-core",
        "clientId": "dev-2",
        "parameters": params,
    }


def decide(event: dict) -> tuple[bool, str]:
    return handler.decide(event, sites=SITES, thing_exists=EXISTING.__contains__)


def test_new_thing_in_a_known_site_is_allowed() -> None:
    assert decide(request(ThingName="dev-2", SiteId="plant-a")) == (True, "ok")


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"ThingName": "dev-1", "SiteId": "plant-a"}, "already exists"),
        ({"ThingName": "dev-2", "SiteId": "plant-z"}, "unknown site"),
        ({"ThingName": "dev/2", "SiteId": "plant-a"}, "invalid name"),
        ({"ThingName": "dev-2", "SiteId": "+"}, "invalid name"),
        ({"ThingName": "dev-2"}, "required"),
        ({"SiteId": "plant-a"}, "required"),
        ({"ThingName": 7, "SiteId": "plant-a"}, "required"),
    ],
)
def test_refusals_say_why(params: dict, why: str) -> None:
    allowed, reason = decide(request(**params))
    assert not allowed and why in reason


@given(thing=st.text(max_size=200), site=st.text(max_size=50))
def test_only_valid_new_things_in_known_sites_pass(thing: str, site: str) -> None:
    allowed, _ = decide(request(ThingName=thing, SiteId=site))
    if allowed:
        assert site in SITES and thing not in EXISTING
        assert thing and all(c.isalnum() and c.isascii() or c in "_:-" for c in thing)


def test_answer_is_the_hook_output_shape(capsys: pytest.CaptureFixture[str]) -> None:
    out = handler.answer(
        request(ThingName="dev-1", SiteId="plant-a"),
        sites=SITES,
        thing_exists=EXISTING.__contains__,
    )
    assert out == {"allowProvisioning": False}
    assert "allowed=False" in capsys.readouterr().out


@pytest.mark.slow
def test_packaged_hook_runs_alone() -> None:
    assert module_closure(PROVISIONING_HOOK_HANDLER) == [
        "components/__init__.py",
        "components/core/__init__.py",
        "components/core/limits.py",
        "components/core/topics.py",
    ]
    stage = code_dir(PROVISIONING_HOOK_HANDLER)
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1]]; import handler; "
        "assert 'cloud' not in sys.modules; "
        "print(json.dumps(handler.answer(json.load(sys.stdin), sites={'plant-a'}, "
        "thing_exists=lambda name: False)))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(stage)],
        input=json.dumps(request(ThingName="dev-3", SiteId="plant-a")),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"allowProvisioning": True}


BUDGET = (*iot_policy.device_policy_budget(), iot_policy.POLICY_MAX_CHARS)
WIDEST = {"partition": "aws-us-gov", "region": "us-gov-west-1", "account": "123456789012"}


def policy_chars(thing: str, site: str, arn: dict[str, str]) -> int:
    doc = iot_policy.device_policy(**arn, thing_name=thing, site=site)
    return len(json.dumps(doc, separators=(",", ":")))


@given(thing=st.from_regex(r"[A-Za-z0-9_:-]{1,128}", fullmatch=True),
       site=st.from_regex(r"[A-Za-z0-9_:-]{1,128}", fullmatch=True))  # fmt: skip
def test_the_hook_admits_exactly_the_names_whose_device_policy_fits(thing: str, site: str) -> None:
    event = request(ThingName=thing, SiteId=site)
    allowed, reason = handler.decide(event, sites={site}, thing_exists=lambda _n: False,
                                     policy_budget=BUDGET)  # fmt: skip
    if allowed:
        for arn in (WIDEST, {"partition": "aws", "region": "eu-west-1", "account": "1" * 12}):
            assert policy_chars(thing, site, arn) <= iot_policy.POLICY_MAX_CHARS
    elif not reason.startswith("invalid name"):  # e.g. a topic over IoT's length limit
        assert reason.startswith("names too long"), reason
        widest = {"partition": "aws-us-gov", "region": "xx-xxxxxxxxxxx-9", "account": "0" * 12}
        assert policy_chars(thing, site, widest) > iot_policy.POLICY_MAX_CHARS


def test_long_names_are_refused_before_iot_would_refuse_the_policy() -> None:
    event = request(ThingName="t" * 100, SiteId="plant-a")
    allowed, reason = handler.decide(event, sites=SITES, thing_exists=lambda _n: False,
                                     policy_budget=BUDGET)  # fmt: skip
    assert not allowed and "IoT allows 2048" in reason


def test_the_stack_gives_the_hook_its_budget(synth) -> None:
    (hook,) = [r for r in synth.resources("AWS::Lambda::Function").values()
               if r["Properties"]["Environment"]["Variables"].get("POLICY_BUDGET")]  # fmt: skip
    budget = hook["Properties"]["Environment"]["Variables"]["POLICY_BUDGET"]
    assert budget == ",".join(map(str, BUDGET))
