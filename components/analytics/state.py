"""Checkpointed analytics state, committed in the same log transaction as the outputs it
produced and the consumer acknowledgement of the inputs it consumed.

So after a crash at any instant the component resumes from a consistent point: either the
whole step (aggregates + alerts + ack + window/detector state) is in the log, or none of it
is and the same inputs are delivered again to the same state. Nothing is counted twice and
nothing is lost.

The state is stored in parts (`<prefix>/stream/<name>`, `<prefix>/alerts`, ...), and a step
writes only the parts it changed: a quiet stream costs no writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from components.core.log import Log, NewRecord

CHECKPOINT_VERSION: Final = 1


class CheckpointError(ValueError):
    """A stored checkpoint this code cannot use; `.evidence` holds its first bytes."""

    def __init__(self, message: str, evidence: str) -> None:
        super().__init__(message)
        self.evidence = evidence


def load(log: Log, prefix: str) -> dict[str, Any] | None:
    """The parts last committed under `prefix`, or None if there are none."""
    texts = log.load_checkpoints(prefix + "/")
    if not texts:
        return None
    parts: dict[str, Any] = {}
    for name, text in texts.items():
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"checkpoint {name!r} is not JSON: {exc}", text[:200]) from exc
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint {name!r} has an unknown version", text[:200])
        parts[name[len(prefix) + 1 :]] = data["state"]
    return parts


def encode(parts: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {
        f"{prefix}/{part}": json.dumps(
            {"version": CHECKPOINT_VERSION, "state": state}, separators=(",", ":"), allow_nan=True
        )
        for part, state in parts.items()
    }


def commit(
    log: Log,
    prefix: str,
    consumer: str,
    cursor: Mapping[str, int],
    outputs: Sequence[tuple[str, str, Mapping[str, Any]]],
    parts: Mapping[str, Any],
) -> list[int]:
    """Append `outputs`, acknowledge `cursor` for `consumer` and store the changed state
    `parts`, atomically."""
    return log.append_records(
        [NewRecord(stream, cls, payload) for stream, cls, payload in outputs],
        ack=(consumer, dict(cursor)) if cursor else None,
        checkpoint=encode(parts, prefix),
    )
