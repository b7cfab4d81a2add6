"""Device shadow: what the device reports, and desired configuration validated before use.

The reported document stays small (a shadow is limited to 8 KB): buffer depth and the age of
the oldest unsent record per class, drops by class and reason, clock sync, uplink counters,
sensor status from the latest health records, component versions.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from components.core import topics
from components.core.config import ConfigError, ConfigHolder

log = logging.getLogger("floorline.uplink.shadow")

SHADOW_MAX_BYTES = 8 * 1024


def reported_state(
    log_stats: Mapping[str, Any],
    *,
    now_wall_ms: int,
    uplink: Mapping[str, Any],
    versions: Mapping[str, str],
    sensors: Mapping[str, str] | None = None,
    config_error: str | None = None,
) -> dict[str, Any]:
    backlog: dict[str, dict[str, Any]] = {}
    for consumer in log_stats.get("backlog", {}).values():
        for cls, b in consumer.items():
            cur = backlog.setdefault(cls, {"records": 0, "oldest_age_s": None})
            cur["records"] = max(cur["records"], b["records"])
            if b["oldest_wall_ms"] is not None:
                age = max(0, (now_wall_ms - b["oldest_wall_ms"]) // 1000)
                if cur["oldest_age_s"] is None or age > cur["oldest_age_s"]:
                    cur["oldest_age_s"] = age
    state = {
        "versions": dict(versions),
        "clock_synced": bool(log_stats.get("clock_synced")),
        "log": {
            "used_bytes": log_stats.get("used_bytes"),
            "budget_bytes": log_stats.get("budget_bytes"),
            "backlog": backlog,
            "dropped": log_stats.get("evicted", {}),
            "refused": {
                k.split(".", 1)[1]: v
                for k, v in log_stats.get("counters", {}).items()
                if k.startswith("rejected_full.")
            },
            "quarantined": log_stats.get("quarantined", 0),
        },
        "uplink": dict(uplink),
        "sensors": dict(sensors or {}),
    }
    if config_error:
        state["config_error"] = config_error[:500]
    return {"state": {"reported": state}}


def apply_desired(holder: ConfigHolder[Any], shadow: Mapping[str, Any], key: str) -> str | None:
    """Apply `state.desired[key]` (a partial configuration) if valid; returns the rejection."""
    desired = shadow.get("state", {}).get("desired", {}) if isinstance(shadow, Mapping) else {}
    wanted = desired.get(key) if isinstance(desired, Mapping) else None
    if wanted is None:
        return None
    if not isinstance(wanted, Mapping):
        return f"desired.{key} must be an object"
    # Compared as JSON: the configuration in force as it was given, the desired keys over it.
    merged = {**holder.raw, **wanted}
    if merged == holder.raw:
        return None
    err: ConfigError | None = holder.update(merged)
    return None if err is None else f"desired.{key} rejected: {err}"


class ShadowSync:
    """The named shadow through IoT Core's shadow MQTT topics (PublishToIoTCore and
    SubscribeToIoTCore: the same on the classic nucleus and nucleus lite). Desired
    configuration arrives on `get/accepted` (asked for at start) and `update/delta`; a document
    that is not JSON is counted and logged, and the configuration in force stays."""

    def __init__(self, gg: Any, holder: ConfigHolder[Any], thing: str, key: str = "uplink") -> None:
        self.gg = gg
        self.holder = holder
        self.thing = thing
        self.key = key
        self.config_error: str | None = None
        self.counters: Counter[str] = Counter()

    def start(self) -> None:
        """Subscribe and ask for the document; a refusal costs the desired configuration only
        (logged, counted), never the uplink."""
        try:
            for operation in topics.SHADOW_DEVICE_RECEIVES:
                self.gg.subscribe_iot(topics.shadow_topic(self.thing, operation), self.on_message)
            self.gg.publish_iot(topics.shadow_topic(self.thing, topics.SHADOW_GET), b"{}")
        except Exception as exc:  # UnauthorizedError, a refused subscription, a full spool
            self.counters["start_failed"] += 1
            log.warning("event=shadow_sync_unavailable error=%r", exc)

    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            document = json.loads(payload)
            state = document["state"]
        except (ValueError, KeyError, TypeError) as exc:
            self.counters["bad_documents"] += 1
            log.warning("event=shadow_document_rejected topic=%s error=%r", topic, exc)
            return
        # get/accepted carries state.desired; a delta carries the desired difference as state.
        desired = state if topic.endswith(topics.SHADOW_DELTA) else state.get("desired")
        if not isinstance(desired, Mapping):
            return
        self.counters["desired_seen"] += 1
        error = apply_desired(self.holder, {"state": {"desired": desired}}, self.key)
        self.config_error = error or self.config_error

    def report(self, document: Mapping[str, Any]) -> None:
        self.gg.publish_iot(
            topics.shadow_topic(self.thing, topics.SHADOW_UPDATE), json.dumps(document).encode()
        )
