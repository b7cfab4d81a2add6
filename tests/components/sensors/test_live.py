"""Live values are best effort: no nucleus means no publishing; a failing nucleus is counted."""

from components.core.live import LivePublisher


def test_skipped_without_a_nucleus():
    pub = LivePublisher(None, "sensors")
    assert not pub.active
    pub.publish("env/bme280@0x76", {"temperature_c": 21.0})
    assert pub.published == 0 and pub.failed == 0


def test_a_refused_publish_is_counted_not_raised():
    class Refusing:
        def publish_local(self, topic, message):
            raise PermissionError(f"not authorized to publish on {topic}")

    pub = LivePublisher(Refusing(), "sensors")  # type: ignore[arg-type]
    pub.publish("env/bme280@0x76", {"temperature_c": 21.0})
    assert pub.failed == 1 and pub.published == 0
