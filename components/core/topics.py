"""The MQTT topic scheme, the one place that spells it.

    floorline/<site>/<thing>/<kind>

The device publishes under its own thing name only (the broker ACL and the IoT policy enforce
it); commands come in on `.../cmd` and answers go out on `.../reply`. The cloud rules build
their FROM clauses from the same functions, so the two sides cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Final

from components.core.limits import MQTT_TOPIC_MAX_BYTES, MQTT_TOPIC_MAX_SLASHES

ROOT: Final = "floorline"

# Kinds of uplink topic and what travels on each.
ALERT: Final = "alert"  # one JSON alert per message (IoT rules filter on it)
AGGREGATE: Final = "agg"  # uplink batches of aggregates
EVENT: Final = "event"  # uplink batches of events (RFID arrive/depart, HTTP ingest)
HEALTH: Final = "health"  # uplink batches of health records
RAW: Final = "raw"  # uplink batches of raw readings (when Kinesis is not used)
COMMAND: Final = "cmd"  # cloud -> device
REPLY: Final = "reply"  # device -> cloud, answers to commands
UPLINK_KINDS: Final = (ALERT, AGGREGATE, EVENT, HEALTH, RAW, REPLY)

# Record class -> topic kind.
KIND_FOR_CLASS: Final = {
    "alert": ALERT,
    "aggregate": AGGREGATE,
    "event": EVENT,
    "health": HEALTH,
    "raw": RAW,
}

_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_:-]{1,128}$")


class TopicError(ValueError):
    pass


def _segment(value: str, what: str) -> str:
    if not _SEGMENT_RE.match(value or ""):
        raise TopicError(f"{what} {value!r} is not a valid topic segment")
    return value


def is_segment(value: object) -> bool:
    """Whether `value` may stand as a site or thing segment of a floorline topic."""
    return isinstance(value, str) and bool(_SEGMENT_RE.match(value))


def check_segment(value: str, what: str = "topic segment") -> str:
    """A value that becomes one level of a topic (site, thing): the rule the topics use, for
    configuration checks (TopicError is a ValueError)."""
    return _segment(value, what)


def check_topic(topic: str) -> str:
    """Reject a topic IoT Core would reject (length, levels, wildcards in a publish)."""
    body = topic
    if topic.startswith("$aws/rules/"):
        body = topic.split("/", 3)[3] if topic.count("/") >= 3 else ""
    if len(topic.encode()) > MQTT_TOPIC_MAX_BYTES:
        raise TopicError(f"topic is {len(topic.encode())} bytes, limit {MQTT_TOPIC_MAX_BYTES}")
    if body.count("/") > MQTT_TOPIC_MAX_SLASHES:
        raise TopicError(f"topic has {body.count('/')} slashes, limit {MQTT_TOPIC_MAX_SLASHES}")
    if "+" in topic or "#" in topic:
        raise TopicError("wildcards are not allowed in a publish topic")
    return topic


def device_topic(site: str, thing: str, kind: str) -> str:
    return check_topic(f"{ROOT}/{_segment(site, 'site')}/{_segment(thing, 'thing')}/{kind}")


def command_topic(site: str, thing: str) -> str:
    return device_topic(site, thing, COMMAND)


def reply_topic(site: str, thing: str) -> str:
    return device_topic(site, thing, REPLY)


# Cloud -> operators (dashboards, pagers): alerts fanned out per site by the cloud rules. A root
# of its own, so no device-side filter (`floorline/+/+/<kind>`) ever matches a republish.
OPS_ROOT: Final = "floorline-ops"


def ops_topic(site: str, kind: str) -> str:
    return check_topic(f"{OPS_ROOT}/{_segment(site, 'site')}/{kind}")


def cloud_filter(kind: str) -> str:
    """The filter a cloud rule subscribes with: every site, every device, one kind."""
    return f"{ROOT}/+/+/{kind}"


def parse(topic: str) -> tuple[str, str, str]:
    """(site, thing, kind) of a floorline topic."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != ROOT:
        raise TopicError(f"{topic!r} is not a floorline topic")
    return parts[1], parts[2], parts[3]


# The named device shadow the uplink reports to, through IoT Core's shadow MQTT topics (the same
# on both nuclei: nucleus lite has no shadow IPC and no ShadowManager).
SHADOW_NAME: Final = "floorline"
SHADOW_UPDATE: Final = "update"  # device -> cloud: a reported state
SHADOW_GET: Final = "get"  # device -> cloud: ask for the whole document
SHADOW_GET_ACCEPTED: Final = "get/accepted"  # cloud -> device: the document
SHADOW_DELTA: Final = "update/delta"  # cloud -> device: desired differs from reported
SHADOW_DEVICE_PUBLISHES: Final = (SHADOW_UPDATE, SHADOW_GET)
SHADOW_DEVICE_RECEIVES: Final = (SHADOW_GET_ACCEPTED, SHADOW_DELTA)


def shadow_topic(thing: str, operation: str) -> str:
    """A reserved topic of the named shadow: $aws/things/T/shadow/name/floorline/update."""
    return f"$aws/things/{_segment(thing, 'thing')}/shadow/name/{SHADOW_NAME}/{operation}"


# Greengrass local pub/sub: best-effort live values, on the device only (never bridged to IoT
# Core). Each component publishes under its own segment: floorline/live/<component>/<stream>.
LIVE: Final = "live"


def live_topic(component: str, stream: str) -> str:
    """Local topic for live values of one stream, e.g. floorline/live/sensors/env/bme280@0x76."""
    return f"{ROOT}/{LIVE}/{_segment(component, 'component')}/{stream}"


def live_filter(component: str | None = None) -> str:
    """Local subscription filter: one component's live values, or every component's."""
    if component is None:
        return f"{ROOT}/{LIVE}/#"
    return f"{ROOT}/{LIVE}/{_segment(component, 'component')}/#"


# Local commands between components (Greengrass local pub/sub, never bridged to IoT Core).
LOCAL_ROOT: Final = f"{ROOT}/local"
LOCAL_IDENTIFY: Final = f"{LOCAL_ROOT}/identify"  # blink the status LED
LOCAL_SET_RATE: Final = f"{LOCAL_ROOT}/set-rate"  # change a sensor's sample interval
LOCAL_ALARM: Final = f"{LOCAL_ROOT}/alarm"  # alarm output state changes
LOCAL_COMMANDS: Final = (LOCAL_IDENTIFY, LOCAL_SET_RATE, LOCAL_ALARM)


# Topic(n) positions for the IoT SQL `topic(n)` function (1-based), used by the cloud rules.
TOPIC_SITE_INDEX: Final = 2
TOPIC_THING_INDEX: Final = 3
TOPIC_KIND_INDEX: Final = 4
