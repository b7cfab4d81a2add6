"""Network outages of one device, through its NetworkLink, with the CRT client reconnecting."""

from __future__ import annotations

import socket
import threading

import pytest

from components.core import topics
from edge_sim.nucleus.cloud import CloudOffline

SITE = "plant-b"


@pytest.mark.slow
def test_outage_then_reconnect_resumes_both_directions(
    device, broker, cloud_inbox, new_inbox, cloud_send
):
    uplink = cloud_inbox(f"{topics.ROOT}/+/+/{topics.EVENT}")
    commands = new_inbox()
    states: list[bool] = []
    offline = threading.Event()
    dev = device("dev-100")
    dev.add_listener(lambda online: (states.append(online), None if online else offline.set()))
    dev.subscribe(topics.command_topic(SITE, "dev-100"), commands.add)
    event_topic = topics.device_topic(SITE, "dev-100", topics.EVENT)
    dev.publish(event_topic, b"before", qos=1)
    uplink.wait_for(b"before")

    link = broker.link("dev-100")
    link.cut()
    assert offline.wait(15), "the client never noticed the dead link"
    assert not dev.connected
    assert link.stats["dropped"] == 1

    # While cut: the device's publish waits in the client; the cloud's command waits in the
    # broker (persistent session, QoS 1).
    with pytest.raises(CloudOffline):
        dev.publish(event_topic, b"refused", qos=1)  # the nucleus keeps it in its spool
    pending = dev.publish_async(event_topic, b"during", qos=1)
    assert not pending.done()
    cloud_send(topics.command_topic(SITE, "dev-100"), b"while-away")

    link.restore()
    assert dev.wait_connected(30)
    pending.result(15)
    uplink.wait_for(b"during")
    commands.wait_for(b"while-away")
    assert states == [False, True]  # the listener was added once connected
    assert dev.interruptions == 1
    assert uplink.payloads().count(b"during") == 1
    assert b"refused" not in uplink.payloads()


@pytest.mark.slow
def test_one_device_outage_leaves_the_others_online(device, broker, cloud_inbox):
    inbox = cloud_inbox(f"{topics.ROOT}/+/+/{topics.HEALTH}")
    cut_off, neighbour = device("dev-200"), device("dev-201")
    link = broker.link("dev-200")
    link.cut()
    neighbour.publish(topics.device_topic(SITE, "dev-201", topics.HEALTH), b"ok", qos=1)
    inbox.wait_for(b"ok")
    assert neighbour.connected
    link.restore()
    assert cut_off.wait_connected(30)


@pytest.mark.slow
def test_cut_link_refuses_new_connections(broker):
    link = broker.link("dev-300")
    link.cut()
    try:
        data = b""
        try:
            with socket.create_connection(("127.0.0.1", link.port), timeout=5) as s:
                s.settimeout(5)
                data = s.recv(1)
        except ConnectionResetError:
            pass  # reset during or right after the handshake: refused either way
        assert data == b""
        assert link.stats["refused"] >= 1
    finally:
        link.restore()


@pytest.mark.slow
def test_a_burst_reaches_the_cloud_complete(device, cloud_inbox):
    """What an uplink drains after an outage: thousands of QoS 1 messages at once."""
    inbox = cloud_inbox(f"{topics.ROOT}/+/+/{topics.RAW}")
    dev = device("dev-400")
    topic = topics.device_topic(SITE, "dev-400", topics.RAW)
    futures = [dev.publish_async(topic, b"%05d" % i, qos=1) for i in range(3000)]
    for f in futures:
        f.result(30)
    inbox.wait_for(b"02999", timeout_s=30)
    assert sorted(inbox.payloads()) == [b"%05d" % i for i in range(3000)]
