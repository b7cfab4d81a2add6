"""Live values are best effort: with no nucleus nothing is published and nothing fails.
(A nucleus that refuses the publish is exercised for real in test_sensors_nucleus.py.)"""

from components.core.live import LivePublisher


def test_skipped_without_a_nucleus():
    pub = LivePublisher(None, "sensors")
    assert not pub.active
    pub.publish("env/bme280@0x76", {"temperature_c": 21.0})
    assert pub.published == 0 and pub.failed == 0
    assert pub.topic("env/bme280@0x76") == "floorline/live/sensors/env/bme280@0x76"
