"""Live values are best effort: no nucleus means no publishing, and never a crash."""

from components.core.live import IPC_SOCKET_ENV, LivePublisher


def test_skipped_without_a_nucleus():
    pub = LivePublisher("floorline/live", env={})
    assert not pub.active
    pub.publish("env/bme280@0x76", {"temperature_c": 21.0})
    assert pub.published == 0 and pub.failed == 0


def test_unreachable_nucleus_disables_live_values(monkeypatch, tmp_path):
    monkeypatch.setenv(IPC_SOCKET_ENV, str(tmp_path / "no-such-socket"))
    monkeypatch.setenv("SVCUID", "not-a-real-token")
    pub = LivePublisher("floorline/live")
    assert not pub.active
    pub.publish("env/bme280@0x76", {"temperature_c": 21.0})
    assert pub.published == 0
