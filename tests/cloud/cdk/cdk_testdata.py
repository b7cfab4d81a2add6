"""Inputs shared by the CDK tests."""

from __future__ import annotations

from typing import Any


# Placeholder rule definitions in the shape of cloud/rules/definitions.py: name, description,
# sql, actions and error_action, each action {type, target, params (API field names)}.
def _error(name: str) -> dict[str, Any]:
    return {
        "type": "s3",
        "target": "error_bucket",
        "params": {"key": f"rule-errors/{name}/${{newuuid()}}.json"},
    }


PLACEHOLDER_RULES: list[dict[str, Any]] = [
    {
        "name": "floorline_batches_raw",
        "description": "raw uplink batches to the telemetry stream",
        "sql": "SELECT * FROM 'floorline/+/+/raw'",
        "actions": [
            {
                "type": "kinesis",
                "target": "telemetry_stream",
                "params": {"partitionKey": "${topic(3)}"},
            }
        ],
        "error_action": _error("floorline_batches_raw"),
    },
    {
        "name": "floorline_device_state",
        "description": "latest state per device",
        "sql": "SELECT topic(3) AS device, timestamp() / 1000 + 60 AS expires_at_s "
        "FROM 'floorline/+/+/health'",
        "actions": [{"type": "dynamoDBv2", "target": "state_table"}],
        "error_action": _error("floorline_device_state"),
    },
    {
        "name": "floorline_alerts",
        "description": "alerts to people and to the site's operator topic",
        "sql": "SELECT *, topic(2) AS site FROM 'floorline/+/+/alert'",
        "actions": [
            {"type": "sns", "target": "alert_topic", "params": {"messageFormat": "RAW"}},
            {"type": "republish", "params": {"topic": "floorline-ops/${topic(2)}/alert", "qos": 1}},
        ],
        "error_action": _error("floorline_alerts"),
    },
]

SITES = ("plant-a", "plant-b")
# plant-b's devices run nucleus lite: the `sites` context entry `plant-b:lite`.
LITE_SITES = frozenset({"plant-b"})
SITE_ENTRIES = tuple(f"{s}:lite" if s in LITE_SITES else s for s in SITES)


def rule_definitions() -> list[Any]:
    """The real definitions once cloud/rules exists, else the placeholder list above."""
    try:
        from cloud.rules import definitions
    except ImportError:
        return PLACEHOLDER_RULES
    return list(definitions.RULES)
