"""GPIO behaviour on gpiozero's MockFactory: pins driven and read at the bit level."""

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from waiting import wait_for

from components.core.clock import ManualClock
from components.lib.gpio.inputs import AcknowledgeButton, DoorContact, PulseCounter
from components.lib.gpio.outputs import PATTERNS, Alarm, StatusLed


@pytest.fixture
def factory():
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()
    f.close()


def test_status_led_patterns(factory):
    led = StatusLed(17, pin_factory=factory)
    pin = factory.pin(17)
    led.show("online")
    assert pin.state == 1
    led.show("fault")
    # The LED toggles on its own: several transitions appear in the pin history.
    wait_for(
        lambda: len({s.state for s in pin.states[-6:]}) == 2 and len(pin.states) >= 6,
        what="the LED toggling on its own",
    )
    led.show("off")
    assert pin.state == 0
    assert PATTERNS["offline-buffering"].on_s > PATTERNS["fault"].on_s
    with pytest.raises(ValueError):
        led.show("party")
    led.close()


def test_alarm_latches_until_acknowledged(factory):
    alarm = Alarm(27, pin_factory=factory)
    pin = factory.pin(27)
    alarm.set_condition(True)
    assert pin.state == 1
    alarm.set_condition(False)
    assert pin.state == 1  # latched: someone has to see it
    alarm.acknowledge()
    assert pin.state == 0
    alarm.set_condition(True)
    alarm.acknowledge()  # condition still there: stays on
    assert pin.state == 1 and alarm.raised_count == 2


def test_pulse_counter_counts_edges_and_rate(factory):
    clock = ManualClock()
    counter = PulseCounter(22, clock, window_s=10.0, pin_factory=factory)
    pin = factory.pin(22)
    for _ in range(25):
        pin.drive_high()
        pin.drive_low()
        clock.advance(0.4)
    assert counter.count == 25
    assert counter.rate_per_s() == pytest.approx(2.5)
    clock.advance(20)
    assert counter.rate_per_s() == 0.0 and counter.count == 25


def test_door_contact_and_ack_button(factory):
    changes = []
    door = DoorContact(5, on_change=changes.append, pin_factory=factory)
    pressed = []
    ack = AcknowledgeButton(6, lambda: pressed.append(1), pin_factory=factory)
    factory.pin(5).drive_low()  # door shut: contact closes to ground
    assert not door.is_open
    factory.pin(5).drive_high()
    assert door.is_open and changes == [False, True] and door.openings == 1
    factory.pin(6).drive_low()
    factory.pin(6).drive_high()
    assert pressed == [1]
    door.close()
    ack.close()


def test_world_flow_pulses_reach_the_counter(factory):
    from edge_sim.hardware.gpio import DoorSource, PulseSource
    from edge_sim.world.signals import Pulses

    clock = ManualClock()
    counter = PulseCounter(23, clock, window_s=10.0, pin_factory=factory)
    source = PulseSource(factory.pin(23), Pulses("flow", rate_hz=4.0, wander=0.0), clock)
    for _ in range(300):  # 30 s of virtual time
        clock.advance(0.1)
        source.update()
    assert counter.count == source.sent == 120
    assert counter.rate_per_s() == pytest.approx(4.0, abs=0.2)
    door = DoorContact(24, pin_factory=factory)
    opened = DoorSource(factory.pin(24), [(1.0, 2.0)], clock)
    assert not door.is_open
    clock.advance(1.5)  # the source's time zero is its creation
    assert opened.update() and door.is_open and door.openings == 1
