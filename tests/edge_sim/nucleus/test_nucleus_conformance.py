"""The conformance cases (conformance_cases.py) against edge_sim's nucleus, both flavours, with
the real awsiotsdk client in a component process. The same cases run against AWS's real nucleus
lite in the real-nucleus tier (tests/nucleus/, `make test-nucleus`): edge_sim must give the
answers each real nucleus gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conformance_cases import ACCESS_CONTROL, CASES, COMPONENT, CONFIG, THING
from conformance_probe import MARK

from edge_sim.nucleus.access import FLAVOURS
from edge_sim.nucleus.ipc_server import NucleusServer

PROBE = Path(__file__).with_name("conformance_probe.py")
TOKEN = "tok-conformance-probe"


def run_probe(socket_path: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SVCUID": TOKEN,
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": socket_path,
        "AWS_IOT_THING_NAME": THING,
    }
    done = subprocess.run(
        [sys.executable, str(PROBE)], env=env, capture_output=True, text=True, timeout=240
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len(MARK) :])


@pytest.mark.slow
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_edge_sim_answers_every_case_as_the_nucleus_it_plays(short_dir: str, flavour: str) -> None:
    server = NucleusServer(
        os.path.join(short_dir, "ipc.sock"),
        {COMPONENT: (TOKEN, ACCESS_CONTROL)},
        thing_name=THING,
        flavour=flavour,
    )
    server.config.set_component(COMPONENT, {**CONFIG, "accessControl": ACCESS_CONTROL})
    with server:
        results = run_probe(server.socket_path)
    expected = {case.name: case.expected(flavour) for case in CASES}
    wrong = {k: (results.get(k), v) for k, v in expected.items() if results.get(k) != v}
    assert wrong == {}, f"{flavour}: case -> (answer, expected): {wrong}"


def test_the_cases_tell_the_nuclei_apart_and_cite_each_difference() -> None:
    differ = [c for c in CASES if c.classic != c.lite]
    assert len(differ) >= 10
    assert all(c.why for c in differ), [c.name for c in differ if not c.why]
    assert len({c.name for c in CASES}) == len(CASES)
