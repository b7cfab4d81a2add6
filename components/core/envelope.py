"""The record schema: one envelope for every reading, event, aggregate, health report and alert.

Identity is `(device, stream, seq)`: `seq` is gapless per (device, stream) and survives
restarts, so the cloud removes duplicates by identity and proves completeness from sequence
numbers alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

SCHEMA_VERSION: Final = 1
SUPPORTED_VERSIONS: Final = frozenset({1})

# Eviction order under disk pressure: first listed goes first. Alerts are kept longest.
CLASSES: Final = ("raw", "health", "aggregate", "event", "alert")
EVICTION_ORDER: Final = CLASSES
# Uplink drain order after an outage: most important first.
DRAIN_ORDER: Final = ("alert", "event", "aggregate", "health", "raw")

_STREAM_RE = re.compile(r"^[a-z0-9_]+/[A-Za-z0-9_.:-]+(@[A-Za-z0-9_.:-]+)?$")
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_:-]{1,128}$")  # AWS IoT thing-name characters


class EnvelopeError(ValueError):
    """A record that does not satisfy the schema; `.evidence` holds what was received."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class UnknownSchemaVersion(EnvelopeError):
    """A record written by a newer (or corrupt) producer: keep it aside, never drop it."""


Identity = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Record:
    device: str
    stream: str
    seq: int
    cls: str
    mono_ns: int
    wall_ms: int
    clock_synced: bool
    payload: Mapping[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION
    # Written before the clock synced: the wall time recovered from the monotonic clock once
    # it did. `wall_ms` keeps what the device believed at the time (history is not rewritten).
    wall_corrected_ms: int | None = None

    @property
    def event_wall_ms(self) -> int:
        """Best available wall time of the event."""
        return self.wall_corrected_ms if self.wall_corrected_ms is not None else self.wall_ms

    @property
    def identity(self) -> Identity:
        return (self.device, self.stream, self.seq)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "device": self.device,
            "stream": self.stream,
            "seq": self.seq,
            "cls": self.cls,
            "mono_ns": self.mono_ns,
            "wall_ms": self.wall_ms,
            "clock_synced": self.clock_synced,
            "payload": dict(self.payload),
            **({"wall_corrected_ms": self.wall_corrected_ms} if self.wall_corrected_ms else {}),
        }


def validate_stream(stream: str) -> str:
    if not isinstance(stream, str) or not _STREAM_RE.fullmatch(stream):
        raise EnvelopeError(
            f"stream name {stream!r} is not '<kind>/<name>[@<where>]'", evidence=stream
        )
    return stream


def validate_device(device: str) -> str:
    if not isinstance(device, str) or not _DEVICE_RE.fullmatch(device):
        raise EnvelopeError(f"device name {device!r} is not a valid thing name", evidence=device)
    return device


def validate_class(cls: str) -> str:
    if cls not in CLASSES:
        raise EnvelopeError(f"record class {cls!r} is not one of {CLASSES}", evidence=cls)
    return cls


def from_dict(data: Mapping[str, Any]) -> Record:
    """Parse and validate an envelope from outside (a batch, an export, an HTTP post)."""
    if not isinstance(data, Mapping):
        raise EnvelopeError("record is not an object", evidence=data)
    version = data.get("schema")
    if version not in SUPPORTED_VERSIONS:
        raise UnknownSchemaVersion(
            f"schema version {version!r} is not supported (known: {sorted(SUPPORTED_VERSIONS)})",
            evidence=dict(data),
        )
    try:
        seq, mono, wall = int(data["seq"]), int(data["mono_ns"]), int(data["wall_ms"])
        payload = data.get("payload", {})
        synced = data["clock_synced"]
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError(
            f"record is missing or has a bad field: {exc}", evidence=dict(data)
        ) from None
    if seq < 1:
        raise EnvelopeError(f"seq {seq} must be >= 1", evidence=dict(data))
    if not isinstance(payload, Mapping):
        raise EnvelopeError("payload is not an object", evidence=dict(data))
    if not isinstance(synced, bool):
        raise EnvelopeError("clock_synced is not a boolean", evidence=dict(data))
    return Record(
        device=validate_device(data.get("device")),  # type: ignore[arg-type]
        stream=validate_stream(data.get("stream")),  # type: ignore[arg-type]
        seq=seq,
        cls=validate_class(data.get("cls")),  # type: ignore[arg-type]
        mono_ns=mono,
        wall_ms=wall,
        clock_synced=synced,
        payload=payload,
        schema=version,
        wall_corrected_ms=_optional_int(data.get("wall_corrected_ms"), data),
    )


def _optional_int(value: Any, evidence: Mapping[str, Any]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EnvelopeError("wall_corrected_ms is not an integer", evidence=dict(evidence))
    return value
