"""Checkpointed analytics state, committed in the same log transaction as the outputs it
produced and the consumer acknowledgement of the inputs it consumed.

So after a crash at any instant the component resumes from a consistent point: either the
whole step (aggregates + alerts + ack + window/detector state) is in the log, or none of it
is and the same inputs are delivered again to the same state. Nothing is counted twice and
nothing is lost.
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


def load(log: Log, name: str) -> dict[str, Any] | None:
    text = log.load_checkpoint(name)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {name!r} is not JSON: {exc}", text[:200]) from exc
    if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {name!r} has an unknown version", text[:200])
    return data["state"]


def commit(log: Log, name: str, consumer: str, cursor: Mapping[str, int],
           outputs: Sequence[tuple[str, str, Mapping[str, Any]]], state: Mapping[str, Any]
           ) -> list[int]:
    """Append `outputs`, acknowledge `cursor` for `consumer` and store `state`, atomically."""
    body = json.dumps({"version": CHECKPOINT_VERSION, "state": state}, separators=(",", ":"),
                      allow_nan=True)
    return log.append_records(
        [NewRecord(stream, cls, payload) for stream, cls, payload in outputs],
        ack=(consumer, dict(cursor)) if cursor else None,
        checkpoint=(name, body),
    )
