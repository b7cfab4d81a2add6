"""The alarm output and the acknowledge button on gpiozero's MockFactory pins, driven by real
alerts through the component and the real log."""

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from components.analytics import __main__ as comp
from components.analytics.actuate import CriticalAlertAlarm
from components.core.clock import ManualClock
from components.core.log import Log

T0 = 1_767_225_600_000
ALARM_PIN, ACK_PIN = 17, 27
STREAM = "env/bme280@0x76"


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.reset()
    Device.pin_factory = None


def press(factory, pin=ACK_PIN):
    p = factory.pin(pin)
    p.drive_low()  # Button has pull_up: low is pressed
    p.drive_high()


def test_alarm_follows_unacknowledged_critical_alerts(factory):
    alarm = CriticalAlertAlarm(ALARM_PIN, ACK_PIN, pin_factory=factory)
    out = factory.pin(ALARM_PIN)
    assert alarm.update([]) is False and out.state == 0
    assert alarm.update(["a1"]) is True and out.state == 1
    press(factory)
    events = alarm.drain_acks(T0)
    assert events == [
        {"type": "alarm_acknowledged", "source": "button", "alert_ids": ["a1"], "wall_ms": T0}
    ]
    assert out.state == 0  # acknowledged locally
    assert alarm.update(["a1", "a2"]) is True and out.state == 1  # a new critical alert
    assert alarm.update(["a2"]) is True
    assert alarm.update([]) is False and out.state == 0  # everything cleared
    assert alarm.drain_acks(T0) == []  # no press, no event
    alarm.close()


def test_critical_alert_drives_the_pin_and_the_acknowledgement_is_recorded(tmp_path, factory):
    clock = ManualClock(wall_ms=T0)
    lg = Log.open(tmp_path / "log.db", device="dev-001", free_floor_bytes=0, clock=clock)
    cfg = comp.SPEC.parse(
        {
            "silentAfterSeconds": 0,
            "detectors": {
                STREAM: {
                    "detectors": [
                        {
                            "type": "threshold",
                            "field": "temperature_c",
                            "high": 30,
                            "hysteresis": 1,
                            "severity": "critical",
                        }
                    ]
                }
            },
        }
    )
    alarm = CriticalAlertAlarm(ALARM_PIN, ACK_PIN, pin_factory=factory)
    c = comp.Analytics(lg, cfg, clock, alarm)
    lg.register_consumer("check", classes=("alert", "event"))
    lg.append(STREAM, "raw", {"temperature_c": 21.0}, wall_ms=T0)
    c.step()
    assert factory.pin(ALARM_PIN).state == 0
    lg.append(STREAM, "raw", {"temperature_c": 35.0}, wall_ms=T0 + 1000)
    c.step()
    assert factory.pin(ALARM_PIN).state == 1
    press(factory)
    c.step()
    assert factory.pin(ALARM_PIN).state == 0
    recs = lg.read("check")
    raised = [r for r in recs if r.cls == "alert"]
    acks = [r for r in recs if r.cls == "event"]
    assert len(raised) == 1 and raised[0].payload["severity"] == "critical"
    assert raised[0].payload["evidence"]["fields"]["temperature_c"]["max"] == 35.0
    assert acks[0].payload["alert_ids"] == [raised[0].payload["alert_id"]]
    # a restart keeps the acknowledgement: the alarm stays off for the same open alert
    alarm.close()
    alarm2 = CriticalAlertAlarm(ALARM_PIN, ACK_PIN, pin_factory=factory)
    c2 = comp.Analytics(lg, cfg, clock, alarm2)
    c2.step()
    assert factory.pin(ALARM_PIN).state == 0
    lg.append(STREAM, "raw", {"temperature_c": 20.0}, wall_ms=T0 + 2000)
    c2.step()
    cleared = [r.payload for r in lg.read("check") if r.cls == "alert"]
    assert cleared[-1]["state"] == "cleared"
    alarm2.close()
