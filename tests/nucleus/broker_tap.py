"""Run inside nucleus lite's namespace: prints every message on the plain listener of the broker
that plays IoT Core, one JSON line each ({"topic", "payload" base64}), until killed."""

from __future__ import annotations

import base64
import json
import sys

import paho.mqtt.client as mqtt


def main() -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="floorline-tap")

    def on_connect(c, _userdata, _flags, _reason, _properties):  # type: ignore[no-untyped-def]
        c.subscribe([("floorline/#", 1), ("$aws/things/#", 1)])
        print(json.dumps({"ready": True}), flush=True)

    def on_message(_c, _userdata, message):  # type: ignore[no-untyped-def]
        line = {"topic": message.topic, "payload": base64.b64encode(message.payload).decode()}
        print(json.dumps(line), flush=True)

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 1883)
    client.loop_forever()


if __name__ == "__main__":
    main()
