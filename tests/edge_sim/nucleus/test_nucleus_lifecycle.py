"""Components stopped together: every one is told before any is waited for, and one that
ignores SIGTERM is killed when the shared grace period is over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from waiting import wait_for

from edge_sim.nucleus.lifecycle import Component, stop_all

# On SIGTERM: note the time, take a second to flush (as the uplink does), note the time again.
FLUSHING = (
    "trap 'date +%s%N > term; sleep 1; date +%s%N > exited; exit 0' TERM; "
    "touch ready; while :; do sleep 0.05; done"
)
STUBBORN = "trap '' TERM; touch ready; while :; do sleep 0.05; done"


def component(root: Path, name: str, script: str) -> Component:
    recipe = {
        "ComponentName": name,
        "ComponentVersion": "1.0.0",
        "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": script}}],
    }
    c = Component(name, recipe, None, root, "dev-001", dict(os.environ), {})
    c.install()
    c.start()
    return c


def wait_ready(components: list[Component]) -> None:
    wait_for(
        lambda: all((c.work / "ready").exists() for c in components),
        timeout_s=20,
        what="every component ready",
    )


@pytest.mark.slow
def test_stopping_together_tells_every_component_before_waiting(tmp_path):
    comps = [component(tmp_path, f"com.example.C{i}", FLUSHING) for i in range(3)]
    wait_ready(comps)
    stop_all(comps, timeout_s=30)
    told = [int((c.work / "term").read_text()) for c in comps]
    exited = [int((c.work / "exited").read_text()) for c in comps]
    assert max(told) < min(exited)  # in parallel: the last was told before the first finished
    assert all(c.state == "FINISHED" and c.proc.returncode == 0 for c in comps)


@pytest.mark.slow
def test_a_component_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    stubborn = component(tmp_path, "com.example.Stubborn", STUBBORN)
    polite = component(tmp_path, "com.example.Polite", FLUSHING)
    wait_ready([stubborn, polite])
    stop_all([stubborn, polite], timeout_s=2)
    assert stubborn.proc.returncode == -9 and stubborn.state == "FINISHED"
    assert polite.proc.returncode == 0


@pytest.mark.slow
def test_the_supervisor_leaves_a_stopping_component_alone(tmp_path):
    c = component(tmp_path, "com.example.C", FLUSHING)
    wait_ready([c])
    c.terminate()
    c.proc.wait(timeout=20)
    c.supervise()  # it exited because it was told to: no restart
    assert c.starts == 1 and c.state == "STOPPING"
    c.wait_stopped()
    assert c.state == "FINISHED"


@pytest.mark.slow
def test_a_step_sees_the_environment_as_sudo_passes_it(tmp_path, monkeypatch):
    """What sudo -E removes (sudoers' built-in env_delete list) does not reach the step, from
    the nucleus's environment or from the recipe's Setenv; the rest does."""
    recipe = {
        "ComponentName": "com.example.Env",
        "ComponentVersion": "1.0.0",
        "Manifests": [
            {
                "Platform": {"os": "linux"},
                "Lifecycle": {
                    "Setenv": {"PYTHONPATH": "/from/setenv", "LD_PRELOAD": "x.so", "KEEP": "1"},
                    "Run": "env > seen; touch ready; while :; do sleep 0.05; done",
                },
            }
        ],
    }
    env = {**os.environ, "PYTHONHOME": "/elsewhere", "BASH_FUNC_f%%": "() { :; }", "MINE": "2"}
    c = Component("com.example.Env", recipe, None, tmp_path, "dev-001", env, {})
    c.install()
    c.start()
    wait_ready([c])
    stop_all([c], timeout_s=5)
    seen = dict(
        line.split("=", 1) for line in (c.work / "seen").read_text().splitlines() if "=" in line
    )
    assert (seen["KEEP"], seen["MINE"]) == ("1", "2")
    assert "LD_PRELOAD" not in seen and "PYTHONHOME" not in seen and "BASH_FUNC_f%%" not in seen
    assert "/from/setenv" not in seen["PYTHONPATH"]  # only the twin's emulated hardware
