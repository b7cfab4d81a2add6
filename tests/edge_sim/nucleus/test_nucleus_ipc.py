"""The emulated nucleus answering the real awsiotsdk GreengrassCoreIPCClientV2."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import awsiot.greengrasscoreipc as ggipc
import pytest
from awsiot.eventstreamrpc import AccessDeniedError
from awsiot.greengrasscoreipc import model
from nucleus_world import SENSORS, STREAM_MANAGER, THING, TOKENS, UPLINK
from waiting import wait_for

from edge_sim.nucleus.cloud import InMemoryCloud
from edge_sim.nucleus.ipc_server import NucleusServer

Connect = Callable[[str], Any]


def json_message(body: Any) -> model.PublishMessage:
    return model.PublishMessage(json_message=model.JsonMessage(message=body))


# -- connection and authentication --
@pytest.mark.slow
def test_client_from_environment_variables(server: NucleusServer) -> None:
    """The component's own code path: GreengrassCoreIPCClientV2() reading SVCUID and the socket."""
    script = textwrap.dedent(
        """
        from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
        client = GreengrassCoreIPCClientV2()
        print(client.get_configuration(key_path=["sampleIntervalSeconds"]).value)
        client.update_state(state="RUNNING")
        client.close()
        """
    )
    env = dict(os.environ)
    env["SVCUID"] = TOKENS[SENSORS]
    env["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] = server.socket_path
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'sampleIntervalSeconds': 5}"
    assert server.component_states[SENSORS] == "RUNNING"


def test_wrong_token_is_refused(server: NucleusServer) -> None:
    with pytest.raises(AccessDeniedError):
        ggipc.connect(ipc_socket=server.socket_path, authtoken="not-a-token", timeout=5)
    assert server.counters["connect_refused"] == 1
    assert server.counters["connect_accepted"] == 0


def test_one_connection_per_component_identity(connect: Connect, server: NucleusServer) -> None:
    sensors, uplink = connect(SENSORS), connect(UPLINK)
    assert sensors.get_configuration().component_name == SENSORS
    assert uplink.get_configuration().component_name == UPLINK
    assert server.stats()["open_connections"] == 2


# -- configuration --
def test_get_configuration_leaf_container_other_component_and_missing(connect: Connect) -> None:
    client = connect(SENSORS)
    assert client.get_configuration(key_path=["sampleIntervalSeconds"]).value == {
        "sampleIntervalSeconds": 5
    }
    chips = client.get_configuration(key_path=["chips"]).value
    assert chips == {"bme280": {"address": "0x76", "enabled": True}}
    other = client.get_configuration(component_name=UPLINK, key_path=["batchMaxBytes"])
    assert (other.component_name, other.value) == (UPLINK, {"batchMaxBytes": 65536})
    with pytest.raises(model.ResourceNotFoundError):
        client.get_configuration(key_path=["chips", "nope"])
    with pytest.raises(model.ResourceNotFoundError):
        client.get_configuration(component_name="com.example.Missing")


def test_update_configuration_merges_orders_by_timestamp_and_notifies(connect: Connect) -> None:
    client = connect(SENSORS)
    events: queue.Queue[model.ConfigurationUpdateEvents] = queue.Queue()
    _, operation = client.subscribe_to_configuration_update(
        key_path=["chips"], on_stream_event=events.put
    )
    now = datetime.now(UTC)
    client.update_configuration(
        key_path=["chips"], timestamp=now, value_to_merge={"sht3x": {"address": "0x44"}}
    )
    event = events.get(timeout=5).configuration_update_event
    assert (event.component_name, event.key_path) == (SENSORS, ["chips", "sht3x", "address"])
    chips = client.get_configuration(key_path=["chips"]).value
    assert chips["sht3x"] == {"address": "0x44"} and chips["bme280"]["address"] == "0x76"

    # keyPath naming a leaf merges {leaf: valueToMerge} into its parent: the leaf becomes a map.
    client.update_configuration(
        key_path=["chips", "bme280", "address"], timestamp=now, value_to_merge={"x": 1}
    )
    assert client.get_configuration(key_path=["chips", "bme280", "address"]).value == {"x": 1}
    assert events.get(timeout=5).configuration_update_event.key_path == [
        "chips",
        "bme280",
        "address",
        "x",
    ]

    # An older timestamp loses against the newer value already there.
    with pytest.raises(model.FailedUpdateConditionCheckError):
        client.update_configuration(
            key_path=["chips", "sht3x"],
            timestamp=now - timedelta(minutes=5),
            value_to_merge={"address": "0x45"},
        )
    assert client.get_configuration(key_path=["chips", "sht3x", "address"]).value == {
        "address": "0x44"
    }
    # A change outside the subscribed key path is not reported.
    client.update_configuration(timestamp=now, value_to_merge={"sampleIntervalSeconds": 1})
    with pytest.raises(model.InvalidArgumentsError):
        client.update_configuration(
            key_path=["accessControl"], timestamp=now, value_to_merge={"x": 1}
        )
    operation.close().result(5)
    assert events.empty()


def test_configuration_change_from_deployment_reaches_subscriber(
    connect: Connect, server: NucleusServer
) -> None:
    client = connect(SENSORS)
    events: queue.Queue[model.ConfigurationUpdateEvents] = queue.Queue()
    client.subscribe_to_configuration_update(on_stream_event=events.put)
    server.config.set_component(SENSORS, {"sampleIntervalSeconds": 30})
    event = events.get(timeout=5).configuration_update_event
    assert event.key_path == ["sampleIntervalSeconds"]
    assert client.get_configuration(key_path=["sampleIntervalSeconds"]).value == {
        "sampleIntervalSeconds": 30
    }


# -- local pub/sub --
def test_local_pubsub_json_binary_wildcards_and_receive_mode(connect: Connect) -> None:
    sensors, uplink = connect(SENSORS), connect(UPLINK)
    to_uplink: queue.Queue[model.SubscriptionResponseMessage] = queue.Queue()
    own: queue.Queue[model.SubscriptionResponseMessage] = queue.Queue()
    uplink.subscribe_to_topic(topic="floorline/live/+", on_stream_event=to_uplink.put)
    sensors.subscribe_to_topic(
        topic="floorline/live/#",
        receive_mode=model.ReceiveMode.RECEIVE_MESSAGES_FROM_OTHERS,
        on_stream_event=own.put,
    )
    sensors.publish_to_topic(topic="floorline/live/env", publish_message=json_message({"t": 21.5}))
    sensors.publish_to_topic(
        topic="floorline/live/raw",
        publish_message=model.PublishMessage(
            binary_message=model.BinaryMessage(message=b"\x00\xffbin")
        ),
    )
    first, second = to_uplink.get(timeout=5), to_uplink.get(timeout=5)
    assert first.json_message.message == {"t": 21.5}
    assert first.json_message.context.topic == "floorline/live/env"
    assert second.binary_message.message == b"\x00\xffbin"
    assert second.binary_message.context.topic == "floorline/live/raw"
    # The publisher asked not to hear itself; a message from another component does arrive.
    uplink.publish_to_topic(topic="floorline/live/x/y", publish_message=json_message("from-up"))
    assert own.get(timeout=5).json_message.message == "from-up"
    assert own.empty()


def test_unauthorized_topics(connect: Connect, server: NucleusServer) -> None:
    sensors = connect(SENSORS)
    with pytest.raises(model.UnauthorizedError) as info:
        sensors.publish_to_topic(topic="floorline/other", publish_message=json_message(1))
    assert "not authorized" in info.value.message and SENSORS in info.value.message
    # The resource `floorline/cmd/#` is the literal filter, not what it would match in MQTT.
    with pytest.raises(model.UnauthorizedError):
        sensors.subscribe_to_topic(topic="floorline/cmd/reboot")
    sensors.subscribe_to_topic(topic="floorline/cmd/#")
    # The Sensors recipe grants SubscribeToIoTCore only, and only its own thing's cmd topic.
    with pytest.raises(model.UnauthorizedError):
        sensors.publish_to_iot_core(topic_name=f"floorline/s1/{THING}/cmd", qos="1", payload=b"x")
    with pytest.raises(model.UnauthorizedError):
        sensors.subscribe_to_iot_core(topic_name="floorline/s1/other-thing/cmd", qos="1")
    with pytest.raises(model.UnauthorizedError):
        sensors.get_thing_shadow(thing_name=THING)
    with pytest.raises(model.UnauthorizedError):
        sensors.validate_authorization_token(token=TOKENS[UPLINK])
    assert server.counters["errors.UnauthorizedError"] == 6


def test_subscription_close_is_clean_on_both_sides(connect: Connect, server: NucleusServer) -> None:
    uplink, sensors = connect(UPLINK), connect(SENSORS)
    received: queue.Queue[Any] = queue.Queue()
    closed: queue.Queue[bool] = queue.Queue()
    _, operation = uplink.subscribe_to_topic(
        topic="floorline/live/#",
        on_stream_event=received.put,
        on_stream_closed=lambda: closed.put(True),
    )
    _, iot_operation = uplink.subscribe_to_iot_core(
        topic_name=f"floorline/+/{THING}/cmd", qos="1", on_stream_event=received.put
    )
    assert server.stats()["open_streams"] == 2
    assert server.pubsub.subscription_count == 1
    assert server.cloud.subscription_count == 1  # type: ignore[attr-defined]
    operation.close().result(5)
    iot_operation.close().result(5)
    assert closed.get(timeout=5) is True
    wait_for(lambda: server.stats()["open_streams"] == 0, what="every stream closed")
    assert server.pubsub.subscription_count == 0
    assert server.cloud.subscription_count == 0  # type: ignore[attr-defined]
    sensors.publish_to_topic(topic="floorline/live/env", publish_message=json_message(1))
    # The connection itself is still usable after its streams closed.
    assert uplink.get_configuration(key_path=["batchMaxBytes"]).value == {"batchMaxBytes": 65536}
    assert received.empty()


def test_disconnect_cleans_up_every_subscription(connect: Connect, server: NucleusServer) -> None:
    client = connect(UPLINK)
    client.subscribe_to_topic(topic="floorline/live/#")
    client.subscribe_to_configuration_update()
    client.subscribe_to_iot_core(topic_name=f"floorline/s/{THING}/cmd", qos="0")
    assert server.stats()["open_streams"] == 3
    client.close()
    wait_for(lambda: server.stats()["open_connections"] == 0, what="every connection closed")
    assert server.pubsub.subscription_count == 0
    assert server.config.subscription_count == 0
    assert server.cloud.subscription_count == 0  # type: ignore[attr-defined]


# -- IoT Core --
def test_publish_to_iot_core_spooled_then_delivered(
    connect: Connect, server: NucleusServer, cloud: InMemoryCloud
) -> None:
    client = connect(UPLINK)
    topic = f"floorline/s1/{THING}/agg"
    for i in range(5):
        client.publish_to_iot_core(topic_name=topic, qos="1", payload=json.dumps({"i": i}))
    client.publish_to_iot_core(topic_name="$aws/rules/floorline_raw/x", qos="0", payload=b"r")
    assert server.mqtt.wait_drained(5)
    assert [m.payload for m in cloud.received[:5]] == [
        json.dumps({"i": i}).encode() for i in range(5)
    ]
    assert cloud.received[5].topic == "$aws/rules/floorline_raw/x"
    assert [m.qos for m in cloud.received] == [1] * 5 + [0]


def test_subscribe_to_iot_core_receives_cloud_messages(
    connect: Connect, cloud: InMemoryCloud
) -> None:
    client = connect(SENSORS)
    got: queue.Queue[model.IoTCoreMessage] = queue.Queue()
    client.subscribe_to_iot_core(
        topic_name=f"floorline/+/{THING}/cmd", qos="1", on_stream_event=got.put
    )
    assert cloud.send_to_device(f"floorline/site9/{THING}/cmd", b'{"op":"blink"}') == 1
    assert cloud.send_to_device("floorline/site9/other/cmd", b"no") == 0
    message = got.get(timeout=5).message
    assert (message.topic_name, message.payload) == (
        f"floorline/site9/{THING}/cmd",
        b'{"op":"blink"}',
    )


def test_iot_core_limits_and_offline_answers_over_ipc(
    connect: Connect, server: NucleusServer, cloud: InMemoryCloud
) -> None:
    client = connect(UPLINK)
    topic = f"floorline/s1/{THING}/raw"
    with pytest.raises(model.ServiceError) as info:
        client.publish_to_iot_core(topic_name=topic, qos="1", payload=b"x" * (128 * 1024 + 1))
    assert "exceeds the maximum message size" in info.value.message
    client.publish_to_iot_core(topic_name=topic, qos="1", payload=b"x" * (128 * 1024))
    deep = f"floorline/s1/{THING}/a/b/c/d/e/f"  # 8 slashes
    with pytest.raises(model.ServiceError) as info:
        client.publish_to_iot_core(topic_name=deep, qos="1", payload=b"x")
    assert "slashes" in info.value.message
    cloud.set_online(False)
    with pytest.raises(model.ServiceError) as info:
        client.publish_to_iot_core(topic_name=topic, qos="0", payload=b"q0")
    assert "offline" in info.value.message
    client.publish_to_iot_core(topic_name=topic, qos="1", payload=b"q1-while-offline")
    cloud.set_online(True)
    assert server.mqtt.wait_drained(5)
    assert cloud.received[-1].payload == b"q1-while-offline"
    assert b"q0" not in [m.payload for m in cloud.received]


def test_spool_full_over_ipc(short_dir: str, config: Any, cloud: InMemoryCloud) -> None:
    srv = NucleusServer(
        os.path.join(short_dir, "s.sock"),
        components={
            UPLINK: (
                TOKENS[UPLINK],
                {"aws.greengrass.ipc.mqttproxy": {"p": {"operations": ["*"], "resources": ["*"]}}},
            )
        },
        config_store=config,
        cloud=cloud,
        thing_name=THING,
        mqtt_options={"spool_max_bytes": 1000},
    )
    with srv:
        client = ggipc.connect(ipc_socket=srv.socket_path, authtoken=TOKENS[UPLINK], timeout=5)
        cloud.set_online(False)
        try:
            for _ in range(3):
                client.new_publish_to_iot_core().activate(
                    model.PublishToIoTCoreRequest(topic_name="t/a", qos="1", payload=b"x" * 300)
                ).result(5)
            operation = client.new_publish_to_iot_core()
            operation.activate(
                model.PublishToIoTCoreRequest(topic_name="t/a", qos="1", payload=b"x" * 300)
            )
            with pytest.raises(model.ServiceError) as info:
                operation.get_response().result(5)
            assert "Message spool is full" in info.value.message
        finally:
            client.close().result(5)
        assert srv.mqtt.snapshot()["refused_spool_full"] == 1


# -- lifecycle, shadows, tokens --
def test_update_state(connect: Connect, server: NucleusServer) -> None:
    client = connect(SENSORS)
    client.update_state(state=model.ReportedLifecycleState.ERRORED)
    assert server.component_states[SENSORS] == "ERRORED"
    with pytest.raises(model.InvalidArgumentsError):
        client.update_state(state="SLEEPING")


def test_thing_shadow_round_trip(connect: Connect) -> None:
    client = connect(UPLINK)
    with pytest.raises(model.ResourceNotFoundError):
        client.get_thing_shadow(thing_name=THING)
    update = {"state": {"desired": {"threshold_c": 30}, "reported": {"threshold_c": 25}}}
    accepted = json.loads(
        client.update_thing_shadow(thing_name=THING, payload=json.dumps(update)).payload
    )
    assert accepted["version"] == 1 and accepted["state"] == update["state"]
    assert "timestamp" in accepted["metadata"]["desired"]["threshold_c"]
    doc = json.loads(client.get_thing_shadow(thing_name=THING).payload)
    assert doc["state"]["delta"] == {"threshold_c": 30}
    assert doc["version"] == 1
    with pytest.raises(model.ConflictError):
        client.update_thing_shadow(
            thing_name=THING,
            payload=json.dumps({"state": {"reported": {"threshold_c": 30}}, "version": 7}),
        )
    client.update_thing_shadow(
        thing_name=THING,
        payload=json.dumps({"state": {"reported": {"threshold_c": 30}}, "version": 1}),
    )
    doc = json.loads(client.get_thing_shadow(thing_name=THING).payload)
    assert "delta" not in doc["state"] and doc["version"] == 2
    client.update_thing_shadow(
        thing_name=THING, shadow_name="leds", payload=b'{"state":{"reported":{"red":true}}}'
    )
    assert client.list_named_shadows_for_thing(thing_name=THING).results == ["leds"]
    deleted = json.loads(client.delete_thing_shadow(thing_name=THING).payload)
    assert deleted["version"] == 2
    with pytest.raises(model.ResourceNotFoundError):
        client.get_thing_shadow(thing_name=THING)
    with pytest.raises(model.InvalidArgumentsError):
        client.update_thing_shadow(thing_name=THING, payload=b"not json")
    with pytest.raises(model.UnauthorizedError):
        client.get_thing_shadow(thing_name="someone-else")


def test_validate_authorization_token_only_for_stream_manager(connect: Connect) -> None:
    stream_manager = connect(STREAM_MANAGER)
    assert stream_manager.validate_authorization_token(token=TOKENS[SENSORS]).is_valid is True
    with pytest.raises(model.InvalidTokenError):
        stream_manager.validate_authorization_token(token="forged")


def test_unsupported_operation_is_a_service_error(connect: Connect) -> None:
    client = connect(SENSORS)
    with pytest.raises(model.ServiceError) as info:
        client.get_component_details(component_name=UPLINK)
    assert "not supported" in info.value.message
    # The connection survives the refusal.
    assert client.get_configuration(key_path=["sampleIntervalSeconds"]).value


def test_malformed_request_bodies_are_invalid_arguments(connect: Connect) -> None:
    client = connect(UPLINK)
    with pytest.raises(model.InvalidArgumentsError):
        client.publish_to_iot_core(topic_name=f"floorline/s/{THING}/x", qos="2", payload=b"")
    with pytest.raises(model.InvalidArgumentsError):
        client.publish_to_topic(topic="floorline/live/#", publish_message=json_message(1))
    with pytest.raises(model.InvalidArgumentsError):
        client.publish_to_iot_core(topic_name=None, qos="1", payload=b"x")


# -- embedding --
def test_stop_with_live_subscribers_closes_their_streams(
    short_dir: str, config: Any, cloud: InMemoryCloud
) -> None:
    srv = NucleusServer(
        os.path.join(short_dir, "x.sock"),
        {SENSORS: (TOKENS[SENSORS], None)},
        config,
        cloud,
    )
    srv.start()
    client = ggipc.connect(ipc_socket=srv.socket_path, authtoken=TOKENS[SENSORS], timeout=5)
    closed: queue.Queue[bool] = queue.Queue()

    class Handler(ggipc.client.SubscribeToConfigurationUpdateStreamHandler):
        def on_stream_closed(self) -> None:
            closed.put(True)

    operation = client.new_subscribe_to_configuration_update(Handler())
    operation.activate(model.SubscribeToConfigurationUpdateRequest()).result(5)
    operation.get_response().result(5)
    srv.stop()
    assert closed.get(timeout=5) is True
    assert not os.path.exists(srv.socket_path)
    client.close().exception(5)


def test_a_component_without_configuration_reads_an_empty_map(
    short_dir: str, cloud: InMemoryCloud
) -> None:
    with NucleusServer(os.path.join(short_dir, "e.sock"), {"c.Bare": ("t", None)}) as srv:
        client = ggipc.connect(ipc_socket=srv.socket_path, authtoken="t", timeout=5)
        try:
            operation = client.new_get_configuration()
            operation.activate(model.GetConfigurationRequest())
            response = operation.get_response().result(5)
            assert (response.component_name, response.value) == ("c.Bare", {})
        finally:
            client.close().result(5)


def test_bad_socket_paths_fail_loudly(short_dir: str) -> None:
    with pytest.raises(ValueError, match="108|107"):
        NucleusServer("/tmp/" + "x" * 120)
    srv = NucleusServer(os.path.join(short_dir, "no-such-dir", "s.sock"))
    with pytest.raises(OSError):
        srv.start()


def test_watch_another_components_configuration(connect: Connect, server: NucleusServer) -> None:
    uplink = connect(UPLINK)
    events: queue.Queue[model.ConfigurationUpdateEvents] = queue.Queue()
    uplink.subscribe_to_configuration_update(component_name=SENSORS, on_stream_event=events.put)
    connect(SENSORS).update_configuration(
        timestamp=datetime.now(UTC), value_to_merge={"sampleIntervalSeconds": 2}
    )
    event = events.get(timeout=5).configuration_update_event
    assert (event.component_name, event.key_path) == (SENSORS, ["sampleIntervalSeconds"])
