"""Crash and restart mid-window against the real SQLite log: every reading is counted exactly
once in the aggregates, whether the process dies between steps, inside a step before its
commit, or is killed with SIGKILL while running."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import wait_for

from components.analytics import __main__ as comp
from components.analytics import state as checkpoint
from components.core.clock import ManualClock
from components.core.log import Log, NewRecord

T0 = 1_767_225_600_000
STREAM = "env/bme280@0x76"
CONFIG = {
    "windowSeconds": [10],
    "silentAfterSeconds": 0,
    "detectors": {
        STREAM: {
            "fields": ["temperature_c"],
            "detectors": [
                {
                    "type": "threshold",
                    "field": "temperature_c",
                    "high": 30,
                    "hysteresis": 1,
                    "severity": "critical",
                }
            ],
        }
    },
}
N = 95


def open_log(path):
    return Log.open(
        path, device="dev-001", free_floor_bytes=0, clock=ManualClock(wall_ms=T0 + N * 1000)
    )


def value(i):
    return 20.0 + (i % 13) * 0.5 + (15.0 if 40 <= i < 43 else 0.0)


def feed(lg, start, stop):
    lg.append_records(
        [
            NewRecord(STREAM, "raw", {"temperature_c": value(i)}, wall_ms=T0 + i * 1000)
            for i in range(start, stop)
        ]
    )


def drain(c, commit_each_step=True):
    while c.step(commit=commit_each_step):
        pass
    c.commit()


def outputs(lg):
    lg.register_consumer("check", classes=("aggregate", "alert"))
    recs = lg.read("check", limit=10_000)
    aggs = [r.payload for r in recs if r.cls == "aggregate"]
    alerts = [r.payload for r in recs if r.cls == "alert"]
    return aggs, alerts


def component(lg, config=CONFIG):
    return comp.Analytics(lg, comp.SPEC.parse(config), lg._clock, batch_records=7)


def reference(tmp_path):
    lg = open_log(tmp_path / "ref.db")
    feed(lg, 0, N)
    drain(component(lg))
    return outputs(lg)


def check_exact(aggs, alerts, ref):
    counts = [a["fields"]["temperature_c"]["count"] for a in aggs]
    assert sum(counts) == N - 5  # nothing lost, nothing counted twice; 90..94 still open
    assert [a["window_start_ms"] for a in aggs] == sorted({a["window_start_ms"] for a in aggs})
    assert (aggs, alerts) == ref


def test_committing_rarely_gives_the_same_result(tmp_path):
    ref = reference(tmp_path)
    lg = open_log(tmp_path / "log.db")
    feed(lg, 0, N)
    c = component(lg)
    drain(c, commit_each_step=False)
    assert c.commits == 3  # the alert's raise and clear steps, and the final commit
    check_exact(*outputs(lg), ref)


def test_reference_run_counts_every_reading(tmp_path):
    aggs, alerts = reference(tmp_path)
    assert [a["fields"]["temperature_c"]["count"] for a in aggs] == [10] * 9
    assert [(a["state"], a["raised_ms"]) for a in alerts] == [
        ("raised", T0 + 40_000),
        ("cleared", T0 + 40_000),
    ]


def test_process_dies_between_steps_mid_window(tmp_path):
    ref = reference(tmp_path)
    path = tmp_path / "log.db"
    lg = open_log(path)
    feed(lg, 0, 35)
    c = component(lg)
    c.step(commit=True)
    c.step(commit=True)  # 14 readings committed: the second window is half full
    c.step()  # 7 more read and processed, not committed yet
    lg.close()  # the process is gone; nothing else is written
    lg = open_log(path)
    feed(lg, 35, N)
    drain(component(lg))
    check_exact(*outputs(lg), ref)


def test_crash_inside_a_step_before_its_commit(tmp_path, monkeypatch):
    ref = reference(tmp_path)
    path = tmp_path / "log.db"
    lg = open_log(path)
    feed(lg, 0, N)
    c = component(lg)
    calls = {"n": 0}
    real = checkpoint.commit

    def dying_commit(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 4:  # mid-window, with an aggregate about to be written
            raise KeyboardInterrupt("power cut")
        return real(*a, **kw)

    monkeypatch.setattr(checkpoint, "commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        drain(c)
    monkeypatch.setattr(checkpoint, "commit", real)
    lg.close()
    lg = open_log(path)
    drain(component(lg))
    check_exact(*outputs(lg), ref)


WORKER = """
import sys, time
sys.path.insert(0, {testdir!r})
import test_restart as t
lg = t.open_log({path!r})
c = t.component(lg)
print("ready", flush=True)
while True:
    c.step(commit=True)
    time.sleep(0.02)
"""


@pytest.mark.slow
def test_sigkill_while_running(tmp_path):
    ref = reference(tmp_path)
    path = str(tmp_path / "log.db")
    lg = open_log(path)
    feed(lg, 0, N)
    lg.close()
    code = WORKER.format(testdir=str(Path(__file__).parent), path=path)
    tests_dir = str(Path(__file__).parents[2])  # the worker imports this module's helpers too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), tests_dir])}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"ready"
    probe = open_log(path)
    wait_for(
        lambda: probe.consumers().get("analytics", {}).get("raw", 0) >= 20,
        timeout_s=30,
        interval_s=0.005,
        what="the worker mid-stream",
    )
    probe.close()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lg = open_log(path)
    assert lg.consumers()["analytics"]["raw"] < N  # it died with work left

    drain(component(lg))
    check_exact(*outputs(lg), ref)


def test_a_refused_commit_leaves_no_trace_and_the_step_is_retried(tmp_path, monkeypatch):
    from components.core.log import BudgetExceeded

    ref = reference(tmp_path)
    lg = open_log(tmp_path / "log.db")
    feed(lg, 0, N)
    c = component(lg)
    real = lg.append_records
    calls = {"n": 0}

    def full(*a, **kw):
        calls["n"] += 1
        if calls["n"] in (2, 5):
            raise BudgetExceeded("log full", cls="aggregate", used_bytes=1, budget_bytes=1)
        return real(*a, **kw)

    monkeypatch.setattr(lg, "append_records", full)
    for _ in range(40):
        c.step(commit=True)
    assert c.commit_failures == 2
    monkeypatch.setattr(lg, "append_records", real)
    check_exact(*outputs(lg), ref)


def test_checkpoint_of_another_configuration_restores_only_unchanged_streams(tmp_path):
    lg = Log.open(
        tmp_path / "log.db",
        device="dev-001",
        free_floor_bytes=0,
        clock=ManualClock(wall_ms=T0 + 15_000),
    )
    feed(lg, 0, 15)
    drain(component(lg))
    c = component(lg, {**CONFIG, "windowSeconds": [5]})
    assert c.engine.pipes[STREAM].windows[0].start_ms is None  # fresh, not the 10 s window
    c2 = component(lg)
    assert c2.engine.pipes[STREAM].windows[0].fields["temperature_c"].count == 5  # same config


# The checkpoint parts as this component stored them before its settings were parsed into
# typed objects (3 steps of 7 readings under CONFIG): the stream's part records its settings
# as configured. Saved state in the log outlives an upgrade.
SAVED = {
    "analytics/alerts": '{"version":1,"state":{"open":{},"duplicate_raises":0,"orphan_clears":0}}',
    "analytics/engine": '{"version":1,"state":{"device_silence":null,"untracked":0}}',
    f"analytics/stream/{STREAM}": (
        '{"version":1,"state":{"windows":[{"start_ms":1767225620000,"first_seq":21,'
        '"last_seq":21,"late":0,"fields":{"temperature_c":[1,23.5,0.0,23.5,23.5,23.5,[23.5],1,0]}}],'
        '"detectors":[{"active":false}],"silence":null,"rfid":null,"bad_payloads":0,'
        '"spec":{"spec":{"fields":["temperature_c"],"detectors":[{"type":"threshold",'
        '"field":"temperature_c","high":30,"hysteresis":1,"severity":"critical"}]},'
        '"windows_s":[10.0],"silent_after_s":null}}}'
    ),
}


def test_a_checkpoint_stored_before_typed_settings_resumes(tmp_path):
    lg = open_log(tmp_path / "log.db")
    feed(lg, 0, N)
    lg.register_consumer(comp.CONSUMER, classes=("raw", "event"))
    lg.append_records([], ack=(comp.CONSUMER, {"raw": 21}), checkpoint=SAVED)
    c = component(lg)
    window = c.engine.pipes[STREAM].windows[0]
    assert (window.start_ms, window.fields["temperature_c"].count) == (T0 + 20_000, 1)
    drain(c)
    aggs, alerts = outputs(lg)
    assert [(a["window_start_ms"], a["fields"]["temperature_c"]["count"]) for a in aggs] == [
        (T0 + i * 10_000, 10) for i in range(2, 9)
    ]  # the half-full window went on from its saved reading; nothing counted twice
    assert [a["state"] for a in alerts] == ["raised", "cleared"]
    saved = checkpoint.load(lg, comp.CHECKPOINT_NAME)[f"stream/{STREAM}"]["spec"]
    assert saved == json.loads(SAVED[f"analytics/stream/{STREAM}"])["state"]["spec"]
