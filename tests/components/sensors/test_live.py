"""Live values are best effort: with no nucleus nothing is published and nothing fails.
(A nucleus that refuses the publish is exercised for real in test_sensors_nucleus.py.)"""

from concurrent.futures import Future

from components.core.live import MAX_IN_FLIGHT, LivePublisher


def test_skipped_without_a_nucleus():
    pub = LivePublisher(None, "sensors")
    assert not pub.active
    pub.publish("env/bme280@0x76", {"temperature_c": 21.0})
    assert pub.published == 0 and pub.failed == 0
    assert pub.topic("env/bme280@0x76") == "floorline/live/sensors/env/bme280@0x76"


class StalledNucleus:
    """A nucleus that takes publishes and answers only when told (a fault no real nucleus
    can be asked to produce on cue)."""

    def __init__(self):
        self.answers = []

    def publish_local(self, topic, message):
        answer = Future()
        self.answers.append((topic, message, answer))
        return answer


def test_a_publish_never_waits_for_the_nucleus_and_answers_are_counted(caplog):
    nucleus = StalledNucleus()
    pub = LivePublisher(nucleus, "sensors")
    for i in range(3):
        pub.publish("env/sht3x@0x44", {"i": i})  # returns although nothing was answered
    assert [m["i"] for _t, m, _a in nucleus.answers] == [0, 1, 2]
    assert (pub.published, pub.failed, pub.dropped) == (0, 0, 0)
    nucleus.answers[0][2].set_result(None)
    with caplog.at_level("WARNING"):
        nucleus.answers[1][2].set_exception(RuntimeError("UnauthorizedError"))
    nucleus.answers[2][2].cancel()
    assert (pub.published, pub.failed, pub.dropped) == (1, 2, 0)
    assert "event=live_publish_failed stream=env/sht3x@0x44 failures=1" in caplog.text


def test_a_nucleus_that_stops_answering_costs_dropped_values_not_memory():
    nucleus = StalledNucleus()
    pub = LivePublisher(nucleus, "sensors")
    for i in range(MAX_IN_FLIGHT + 10):
        pub.publish("vib/adxl345@0x53", {"i": i})
    assert len(nucleus.answers) == MAX_IN_FLIGHT and pub.dropped == 10
    for _t, _m, answer in nucleus.answers:  # the nucleus catches up
        answer.set_result(None)
    pub.publish("vib/adxl345@0x53", {"i": "again"})
    assert nucleus.answers[-1][1] == {"i": "again"} and pub.published == MAX_IN_FLIGHT
