"""The local IoT Core's identity and authorisation, checked with real clients and Mosquitto."""

from __future__ import annotations

import os
import ssl
import stat

import paho.mqtt.client as mqtt
import pytest

from components.core import topics
from edge_sim.broker import CLOUD_USER, Broker, LocalCA, acl_text
from edge_sim.broker.config import device_read_pattern, device_write_pattern

SITE = "plant-a"


def test_acl_is_built_from_the_topic_scheme():
    text = acl_text()
    assert f"pattern write {topics.ROOT}/+/%u/#" in text
    assert f"pattern read {topics.ROOT}/+/%u/{topics.COMMAND}/#" in text
    assert f"user {CLOUD_USER}\ntopic readwrite #" in text
    # Every topic a device builds for itself falls under its write pattern.
    for kind in topics.UPLINK_KINDS:
        topic = topics.device_topic(SITE, "dev-001", kind)
        assert mqtt.topic_matches_sub(device_write_pattern().replace("%u", "dev-001"), topic)
    assert mqtt.topic_matches_sub(
        device_read_pattern().replace("%u", "dev-001"), topics.command_topic(SITE, "dev-001")
    )


@pytest.mark.slow
def test_device_publish_under_own_name_reaches_the_cloud(device, cloud_inbox):
    inbox = cloud_inbox(f"{topics.ROOT}/#")
    dev = device("dev-001")
    topic = topics.device_topic(SITE, "dev-001", topics.ALERT)
    dev.publish(topic, b'{"alert": "over-temp"}', qos=1)
    inbox.wait_for(b'{"alert": "over-temp"}')
    assert (topic, b'{"alert": "over-temp"}') in inbox.messages


@pytest.mark.slow
def test_device_publish_under_another_name_is_not_delivered(device, cloud_inbox, broker):
    inbox = cloud_inbox(f"{topics.ROOT}/#")
    dev = device("dev-003")
    spoofed = topics.device_topic(SITE, "dev-004", topics.ALERT)
    # MQTT 3.1.1 has no way to say "denied": the broker still acknowledges.
    dev.publish(spoofed, b"spoofed", qos=1)
    # A message sent after it on the same connection arrives after it, if it arrives at all.
    dev.publish(topics.device_topic(SITE, "dev-003", topics.ALERT), b"marker", qos=1)
    inbox.wait_for(b"marker")
    assert b"spoofed" not in inbox.payloads()
    assert all(t.split("/")[2] == "dev-003" for t, _ in inbox.messages)


@pytest.mark.slow
def test_command_reaches_only_its_device(device, cloud_send, new_inbox):
    inbox_a, inbox_b = new_inbox(), new_inbox()
    a, b = device("dev-010"), device("dev-011")
    a.subscribe(topics.command_topic(SITE, "dev-010"), inbox_a.add)
    # dev-011 asks for every device's commands; the broker hands it only its own.
    b.subscribe(f"{topics.ROOT}/+/+/{topics.COMMAND}", inbox_b.add)
    cloud_send(topics.command_topic(SITE, "dev-010"), b"for-010")
    cloud_send(topics.command_topic(SITE, "dev-011"), b"for-011")
    inbox_a.wait_for(b"for-010")
    inbox_b.wait_for(b"for-011")  # sent after for-010: had dev-011 got that, it came first
    assert inbox_b.payloads() == [b"for-011"]
    assert inbox_a.payloads() == [b"for-010"]


@pytest.mark.slow
def test_device_cannot_read_other_devices_uplink(device, cloud_send, new_inbox):
    spy_inbox = new_inbox()
    spy = device("dev-020")
    spy.subscribe(f"{topics.ROOT}/#", spy_inbox.add)
    victim = device("dev-021")
    victim.publish(topics.device_topic(SITE, "dev-021", topics.RAW), b"secret", qos=1)
    # Its own command, sent after, proves the spy's subscription is live.
    cloud_send(topics.command_topic(SITE, "dev-020"), b"ping")
    spy_inbox.wait_for(b"ping")
    assert spy_inbox.payloads() == [b"ping"]


def _paho(broker: Broker, **tls) -> tuple[mqtt.Client, list]:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv311
    )
    client.tls_set(**tls)
    return client, []


@pytest.mark.slow
def test_client_without_certificate_is_refused(broker):
    client, _ = _paho(broker, ca_certs=str(broker.ca_path))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.connect("127.0.0.1", broker.port)
        for _ in range(50):  # the refusal may surface on the first read
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError("broker closed the connection")
    assert broker.running


@pytest.mark.slow
def test_certificate_from_another_ca_is_refused(broker, tmp_path):
    rogue = LocalCA(tmp_path / "rogue").issue_client("dev-001")
    client, _ = _paho(
        broker, ca_certs=str(broker.ca_path), certfile=str(rogue.cert), keyfile=str(rogue.key)
    )
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client.connect("127.0.0.1", broker.port)
        for _ in range(50):
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError("broker closed the connection")


@pytest.mark.slow
def test_private_keys_are_private_and_the_broker_still_reads_them(broker):
    key_mode = stat.S_IMODE(os.stat(broker.server_files.key).st_mode)
    assert key_mode == 0o600
    assert stat.S_IMODE(os.stat(broker.issue_device_cert("dev-030").key).st_mode) == 0o600
    assert broker.running  # it loaded the 0600 server key


@pytest.mark.slow
def test_reserved_and_invalid_thing_names(broker):
    with pytest.raises(ValueError, match="reserved"):
        broker.issue_device_cert(CLOUD_USER)
    for bad in ("dev/1", "dev+", "#", ""):
        with pytest.raises(ValueError):
            broker.issue_device_cert(bad)
