"""Names, tokens and recipe access policies shared by the nucleus tests."""

from __future__ import annotations

from typing import Any

THING = "dev-007"
SENSORS = "com.floorline.Sensors"
UPLINK = "com.floorline.Uplink"
STREAM_MANAGER = "aws.greengrass.StreamManager"
TOKENS = {SENSORS: "tok-sensors-3f9a", UPLINK: "tok-uplink-77c1", STREAM_MANAGER: "tok-sm-0001"}

SENSORS_ACL: dict[str, Any] = {
    "aws.greengrass.ipc.pubsub": {
        f"{SENSORS}:pubsub:1": {
            "policyDescription": "live readings",
            "operations": ["aws.greengrass#PublishToTopic", "aws.greengrass#SubscribeToTopic"],
            # `*` is the glob; `#` is a plain character for local pub/sub on both nuclei.
            "resources": ["floorline/live/*", "floorline/cmd/#"],
        }
    },
    "aws.greengrass.ipc.mqttproxy": {
        f"{SENSORS}:mqttproxy:1": {
            "operations": ["aws.greengrass#SubscribeToIoTCore"],
            "resources": [f"floorline/+/{THING}/cmd"],
        }
    },
}
UPLINK_ACL: dict[str, Any] = {
    "aws.greengrass.ipc.mqttproxy": {
        f"{UPLINK}:mqttproxy:1": {
            "operations": ["*"],
            "resources": [f"floorline/+/{THING}/*", "$aws/rules/floorline_*"],
        }
    },
    "aws.greengrass.ipc.pubsub": {
        f"{UPLINK}:pubsub:1": {
            "operations": ["aws.greengrass#SubscribeToTopic", "aws.greengrass#PublishToTopic"],
            "resources": ["floorline/live/*"],
        }
    },
    "aws.greengrass.ShadowManager": {
        f"{UPLINK}:shadow:1": {
            "operations": [
                "aws.greengrass#GetThingShadow",
                "aws.greengrass#UpdateThingShadow",
                "aws.greengrass#DeleteThingShadow",
                "aws.greengrass#ListNamedShadowsForThing",
            ],
            "resources": [
                f"$aws/things/{THING}/shadow",
                f"$aws/things/{THING}/shadow/name/*",
            ],
        }
    },
}
