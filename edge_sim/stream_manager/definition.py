"""Message stream definitions: validated from the wire, written back for DescribeMessageStream.

Pure. The server checks everything the SDK checks on the client side (a raw socket may send
anything) and rejects what this simulator cannot honour instead of ignoring it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Final

from components.core.limits import SM_BATCH_SIZE_RANGE, SM_MIN_BATCH_INTERVAL_MS

from .protocol import RequestError, Status

NAME_RE: Final = re.compile(r"^[\w ,.\-_]*$")
MIN_MAX_SIZE_BYTES: Final = 1024
DEFAULT_MAX_SIZE_BYTES: Final = 256 * 1024 * 1024
MIN_SEGMENT_BYTES: Final = 1024
MAX_SEGMENT_BYTES: Final = 2**31 - 1
DEFAULT_SEGMENT_BYTES: Final = 16 * 1024 * 1024
MIN_TTL_MS: Final = 60_000
MAX_MILLIS: Final = 9_223_372_036_854
MAX_SEQ: Final = 2**63 - 1
DEFAULT_KINESIS_BATCH_SIZE: Final = SM_BATCH_SIZE_RANGE[1]
UNSUPPORTED_EXPORTS: Final = ("http", "iotAnalytics", "IotSitewise", "s3TaskExecutor")


class StrategyOnFull(enum.IntEnum):
    REJECT_NEW_DATA = 0
    OVERWRITE_OLDEST_DATA = 1


class Persistence(enum.IntEnum):
    FILE = 0
    MEMORY = 1


@dataclass(frozen=True)
class KinesisExport:
    identifier: str
    kinesis_stream_name: str
    batch_size: int | None = None
    batch_interval_ms: int | None = None
    priority: int | None = None
    start_sequence_number: int = 0
    disabled: bool = False

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "identifier": self.identifier,
            "kinesisStreamName": self.kinesis_stream_name,
            "startSequenceNumber": self.start_sequence_number,
            "disabled": self.disabled,
        }
        if self.batch_size is not None:
            out["batchSize"] = self.batch_size
        if self.batch_interval_ms is not None:
            out["batchIntervalMillis"] = self.batch_interval_ms
        if self.priority is not None:
            out["priority"] = self.priority
        return out


@dataclass(frozen=True)
class StreamDefinition:
    name: str
    strategy_on_full: StrategyOnFull
    max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES
    segment_size_bytes: int = DEFAULT_SEGMENT_BYTES
    ttl_ms: int | None = None
    persistence: Persistence = Persistence.FILE
    flush_on_write: bool = False
    kinesis: tuple[KinesisExport, ...] = field(default_factory=tuple)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "maxSize": self.max_size_bytes,
            "streamSegmentSize": self.segment_size_bytes,
            "strategyOnFull": int(self.strategy_on_full),
            "persistence": int(self.persistence),
            "flushOnWrite": self.flush_on_write,
            "exportDefinition": {"kinesis": [k.to_wire() for k in self.kinesis]},
        }
        if self.ttl_ms is not None:
            out["timeToLiveMillis"] = self.ttl_ms
        return out


def _invalid(message: str) -> RequestError:
    return RequestError(Status.INVALID_REQUEST, message)


def _int(d: dict[str, Any], key: str, lo: int, hi: int, default: int | None) -> int | None:
    value = d.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{key} must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise _invalid(f"{key} must be between {lo} and {hi}, got {value}")
    return value


def _bool(d: dict[str, Any], key: str) -> bool:
    value = d.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"{key} must be a boolean, got {type(value).__name__}")
    return value


def _enum(d: dict[str, Any], key: str, kind: type[enum.IntEnum], default: Any) -> Any:
    value = d.get(key)
    if value is None:
        if default is None:
            raise _invalid(f"{key} is required")
        return default
    try:
        return kind(value)
    except (ValueError, TypeError):
        raise _invalid(f"{key} {value!r} is not one of {[m.value for m in kind]}") from None


def validate_name(name: Any, what: str = "name") -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or not NAME_RE.match(name):
        raise _invalid(f"{what} {name!r} must be 1-255 characters of letters, digits, ' ,.-_'")
    return name


def parse_kinesis(d: Any) -> KinesisExport:
    if not isinstance(d, dict):
        raise _invalid("a kinesis export config must be a map")
    stream_name = d.get("kinesisStreamName")
    if not isinstance(stream_name, str) or not stream_name:
        raise _invalid("kinesisStreamName is required")
    lo, hi = SM_BATCH_SIZE_RANGE
    return KinesisExport(
        identifier=validate_name(d.get("identifier"), "export identifier"),
        kinesis_stream_name=stream_name,
        batch_size=_int(d, "batchSize", lo, hi, None),
        # The real service's floor; edge_sim compresses time with its speed factor instead.
        batch_interval_ms=_int(
            d, "batchIntervalMillis", SM_MIN_BATCH_INTERVAL_MS, MAX_MILLIS, None
        ),
        priority=_int(d, "priority", 1, 10, None),
        start_sequence_number=_int(d, "startSequenceNumber", 0, MAX_SEQ, 0) or 0,
        disabled=_bool(d, "disabled"),
    )


def parse_definition(d: Any) -> StreamDefinition:
    """A StreamDefinition from a `definition` map, or RequestError(INVALID_REQUEST)."""
    if not isinstance(d, dict):
        raise _invalid("definition must be a map")
    export = d.get("exportDefinition") or {}
    if not isinstance(export, dict):
        raise _invalid("exportDefinition must be a map")
    for kind in UNSUPPORTED_EXPORTS:
        if export.get(kind):
            raise _invalid(f"export destination {kind!r} is not supported here (only kinesis)")
    kinesis_raw = export.get("kinesis") or []
    if not isinstance(kinesis_raw, list):
        raise _invalid("exportDefinition.kinesis must be a list")
    kinesis = tuple(parse_kinesis(k) for k in kinesis_raw)
    ids = [k.identifier for k in kinesis]
    if len(set(ids)) != len(ids):
        raise _invalid(f"export identifiers must be unique, got {ids}")
    max_size = _int(d, "maxSize", MIN_MAX_SIZE_BYTES, 2**63 - 1, DEFAULT_MAX_SIZE_BYTES)
    segment = _int(
        d, "streamSegmentSize", MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES, DEFAULT_SEGMENT_BYTES
    )
    assert max_size is not None and segment is not None
    return StreamDefinition(
        name=validate_name(d.get("name")),
        strategy_on_full=_enum(d, "strategyOnFull", StrategyOnFull, None),
        max_size_bytes=max_size,
        segment_size_bytes=segment,
        ttl_ms=_int(d, "timeToLiveMillis", MIN_TTL_MS, MAX_MILLIS, None),
        persistence=_enum(d, "persistence", Persistence, Persistence.FILE),
        flush_on_write=_bool(d, "flushOnWrite"),
        kinesis=kinesis,
    )


def check_update(old: StreamDefinition, new: StreamDefinition, current_bytes: int) -> None:
    """The documented constraints on UpdateMessageStream (UPDATE_NOT_ALLOWED otherwise)."""
    if new.persistence != old.persistence:
        raise RequestError(Status.UPDATE_NOT_ALLOWED, "a stream's persistence cannot be updated")
    if new.max_size_bytes < current_bytes:
        raise RequestError(
            Status.UPDATE_NOT_ALLOWED,
            f"maxSize {new.max_size_bytes} is below the stream's current size {current_bytes}",
        )
    if new.max_size_bytes < new.segment_size_bytes:
        raise RequestError(
            Status.UPDATE_NOT_ALLOWED,
            f"maxSize {new.max_size_bytes} is below streamSegmentSize {new.segment_size_bytes}",
        )
