"""Inputs shared by the CDK tests."""

from __future__ import annotations

from typing import Any

# Placeholder rule definitions in the shape of cloud/rules (name, sql, actions[{type, params}]).
PLACEHOLDER_RULES: list[dict[str, Any]] = [
    {
        "name": "floorline_raw_to_kinesis",
        "sql": "SELECT * FROM 'floorline/+/+/raw'",
        "actions": [{"type": "kinesis", "params": {}}],
    },
    {
        "name": "floorline_alerts",
        "sql": "SELECT *, topic(2) AS site, topic(3) AS device FROM 'floorline/+/+/alert'",
        "actions": [
            {"type": "sns", "params": {"message_format": "JSON"}},
            {"type": "republish", "params": {"topic": "floorline/fleet/alerts", "qos": 1}},
        ],
    },
    {
        "name": "floorline_latest_state",
        "sql": "SELECT topic(3) AS device, stream, seq, wall_ms FROM 'floorline/+/+/health'",
        "actions": [{"type": "dynamodbv2", "params": {}}],
    },
]

SITES = ("plant-a", "plant-b")


def rule_definitions() -> list[Any]:
    """The real definitions once cloud/rules exists, else the placeholder list above."""
    try:
        from cloud.rules import definitions
    except ImportError:
        return PLACEHOLDER_RULES
    return list(definitions.RULES)
