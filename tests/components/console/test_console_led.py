import pytest
from gpiozero import LED, Device
from gpiozero.pins.mock import MockFactory
from waiting import wait_for

from components.console.__main__ import main
from components.lib.gpio import status as led

NOW = 1_767_300_000_000


def _stats(backlog_oldest_ms=None, refused=0, used=100, budget=1000, free=10**9, floor=0):
    backlog = {}
    if backlog_oldest_ms is not None:
        backlog = {
            "uplink-kinesis": {"raw": {"records": 5, "oldest_wall_ms": backlog_oldest_ms}},
            "analytics": {"raw": {"records": 9, "oldest_wall_ms": 0}},
        }
    counters = {"rejected_full.alert": refused} if refused else {}
    return {
        "backlog": backlog,
        "counters": counters,
        "used_bytes": used,
        "budget_bytes": budget,
        "free_disk_bytes": free,
        "free_floor_bytes": floor,
    }


def test_online_when_backlog_is_fresh_or_empty():
    assert led.led_state(_stats(), {}, now_wall_ms=NOW).state == led.ONLINE
    fresh = _stats(backlog_oldest_ms=NOW - 10_000)
    assert led.led_state(fresh, {}, now_wall_ms=NOW).state == led.ONLINE


def test_old_uplink_backlog_means_offline_buffering_but_other_consumers_do_not_count():
    old = _stats(backlog_oldest_ms=NOW - 301_000)
    d = led.led_state(old, {}, now_wall_ms=NOW, offline_after_s=300)
    assert d.state == led.OFFLINE_BUFFERING and "301 s" in d.reasons[0]
    # analytics' backlog is ancient (oldest_wall_ms=0) but analytics is not the uplink
    assert led.led_state(_stats(backlog_oldest_ms=NOW), {}, now_wall_ms=NOW).state == led.ONLINE


def test_faulty_sensor_wins_over_offline():
    health = {"health/bme280@0x76": [{"event": "sensor_fault", "state": "faulty"}]}
    d = led.led_state(_stats(backlog_oldest_ms=0), health, now_wall_ms=NOW)
    assert d.state == led.FAULT and "health/bme280@0x76" in d.reasons[0]


def test_refusals_are_a_fault_only_while_the_log_is_still_full():
    assert led.led_state(_stats(refused=3, used=990), {}, now_wall_ms=NOW).state == led.FAULT
    assert led.led_state(_stats(refused=3, used=100), {}, now_wall_ms=NOW).state == led.ONLINE
    at_floor = _stats(refused=3, free=50, floor=100)
    assert led.led_state(at_floor, {}, now_wall_ms=NOW).state == led.FAULT


@pytest.mark.parametrize(
    ("payloads", "state"),
    [
        ([], "unknown"),
        ([{"event": "reader_stats", "frames": 3}], "unknown"),
        ([{"event": "sensor_fault", "state": "faulty"}], "faulty"),
        ([{"event": "sensor_fault"}, {"event": "sensor_recovered"}], "ok"),
        ([{"event": "reader_fault"}, {"event": "reader_stats"}], "faulty"),
        ([{"event": "reader_recovered"}, {"event": "reader_stats"}], "ok"),
        # a 4-20 mA loop fault on a chip that answers: the sensor state says ok, the event wins
        ([{"event": "loop_fault", "state": "ok"}], "faulty"),
        ([{"event": "loop_fault"}, {"event": "loop_fault_cleared", "state": "ok"}], "ok"),
        ([{"event": "log_salvaged", "rows_salvaged": 3}], "unknown"),
    ],
)
def test_health_state_takes_the_latest_deciding_record(payloads, state):
    assert led.health_state(payloads)[0] == state


def test_every_state_has_a_pattern_and_a_meaning():
    for state in (led.ONLINE, led.OFFLINE_BUFFERING, led.FAULT, led.OFF):
        assert state in led.PATTERNS and state in led.MEANINGS
    assert led.PATTERNS[led.ONLINE].steady_on and led.PATTERNS[led.OFF].dark
    slow, fast = led.PATTERNS[led.OFFLINE_BUFFERING], led.PATTERNS[led.FAULT]
    assert slow.on_s > fast.on_s


@pytest.fixture
def mock_pins():
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


def test_show_drives_a_gpiozero_led(mock_pins):
    device = LED(17)
    pin = mock_pins.pin(17)
    led.show(device, led.ONLINE)
    assert pin.state == 1
    led.show(device, led.OFF)
    assert pin.state == 0
    led.show(device, led.FAULT)
    # blinking: the pin goes high and low again by itself
    wait_for(lambda: sum(1 for s in pin.states if s.state) >= 3, what="the LED blinking")
    device.close()


def test_led_test_command_cycles_every_pattern_and_leaves_the_led_off(
    mock_pins, tmp_path, captured
):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"ledPin": "GPIO22"}')
    rc = main(
        ["led", "test", "--seconds-each", "0.05", "--config", str(cfg)], console=captured.console
    )
    assert rc == 0
    for state in (led.ONLINE, led.OFFLINE_BUFFERING, led.FAULT, led.OFF):
        assert state in captured.text
    pin = mock_pins.pin(22)
    assert pin.state == 0
    assert any(s.state for s in pin.states)  # it was lit at some point


@pytest.mark.slow
def test_led_test_off_a_pi_says_why_in_one_message_not_four_warnings(tmp_path):
    """No pin factory chosen, as a technician would run it: gpiozero's fallback warnings are
    folded into the one FAIL message (on a machine with GPIO the LED simply lights)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    cfg = tmp_path / "c.json"
    cfg.write_text("{}")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.console",
            "led",
            "test",
            "--seconds-each",
            "0.01",
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert "PinFactoryFallback" not in out and "warnings.warn" not in out
    if proc.returncode != 0:
        assert proc.returncode == 3
        assert out.startswith("FAIL cannot drive LED on GPIO17")
        assert "pin libraries tried: lgpio" in out and "GPIOZERO_PIN_FACTORY=mock" in out
