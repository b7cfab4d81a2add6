"""The connection plugged into the nucleus' MQTT spool: the whole device-to-cloud path."""

from __future__ import annotations

import pytest

from components.core import topics
from edge_sim.nucleus.mqtt_proxy import MqttProxy

SITE = "plant-c"


@pytest.mark.slow
def test_nucleus_spool_delivers_through_an_outage(
    device, broker, cloud_inbox, new_inbox, cloud_send
):
    uplink = cloud_inbox(f"{topics.ROOT}/+/+/{topics.AGGREGATE}")
    commands = new_inbox()
    conn = device("dev-500")
    nucleus = MqttProxy(conn)
    nucleus.start()
    try:
        cancel = nucleus.subscribe(topics.command_topic(SITE, "dev-500"), commands.add)
        topic = topics.device_topic(SITE, "dev-500", topics.AGGREGATE)
        nucleus.publish(topic, b"agg-0", 1)
        uplink.wait_for(b"agg-0")

        link = broker.link("dev-500")
        link.cut()
        for i in range(1, 21):  # PublishToIoTCore succeeds: spooled while offline
            nucleus.publish(topic, b"agg-%d" % i, 1)
        link.restore()
        assert conn.wait_connected(30)
        uplink.wait_for(b"agg-20", timeout_s=30)
        assert nucleus.wait_drained(30)
        first_seen = list(dict.fromkeys(uplink.payloads()))  # at-least-once: drop repeats
        assert first_seen == [b"agg-%d" % i for i in range(21)]  # none lost, in order

        cloud_send(topics.command_topic(SITE, "dev-500"), b"reset")
        commands.wait_for(b"reset")
        cancel()
    finally:
        nucleus.stop()
