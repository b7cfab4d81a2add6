"""Event-stream RPC conventions on top of the framing: message types, flags, common headers."""

from __future__ import annotations

import json
from enum import IntEnum, IntFlag
from typing import Any, Final

from edge_sim.nucleus import eventstream as es

PROTOCOL_VERSION: Final = "0.1.0"
CONTENT_TYPE_JSON: Final = "application/json"

MESSAGE_TYPE: Final = ":message-type"
MESSAGE_FLAGS: Final = ":message-flags"
STREAM_ID: Final = ":stream-id"
VERSION: Final = ":version"
CONTENT_TYPE: Final = ":content-type"
OPERATION: Final = "operation"
SERVICE_MODEL_TYPE: Final = "service-model-type"

MODEL_PREFIX: Final = "aws.greengrass#"


class MessageType(IntEnum):
    APPLICATION_MESSAGE = 0
    APPLICATION_ERROR = 1
    PING = 2
    PING_RESPONSE = 3
    CONNECT = 4
    CONNECT_ACK = 5
    PROTOCOL_ERROR = 6
    INTERNAL_ERROR = 7


class Flags(IntFlag):
    NONE = 0
    CONNECTION_ACCEPTED = 1
    TERMINATE_STREAM = 2


class ProtocolViolation(ValueError):
    """A well-framed message that breaks the RPC rules; the connection is closed after it."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


def int_header(message: es.Message, name: str, default: int | None = None) -> int:
    header = message.header(name)
    if header is None:
        if default is None:
            raise ProtocolViolation(f"missing header {name}")
        return default
    if header.type != es.HeaderType.INT32:
        raise ProtocolViolation(f"header {name} has type {header.type.name}, expected INT32")
    return int(header.value)  # type: ignore[arg-type]


def envelope(
    message_type: MessageType, stream_id: int, flags: Flags = Flags.NONE
) -> list[es.Header]:
    return [
        es.int32_header(MESSAGE_TYPE, int(message_type)),
        es.int32_header(MESSAGE_FLAGS, int(flags)),
        es.int32_header(STREAM_ID, stream_id),
    ]


def application(
    stream_id: int,
    model: str,
    body: dict[str, Any],
    *,
    error: bool = False,
    terminate: bool = False,
) -> bytes:
    """An APPLICATION_MESSAGE or APPLICATION_ERROR carrying a JSON shape."""
    kind = MessageType.APPLICATION_ERROR if error else MessageType.APPLICATION_MESSAGE
    flags = Flags.TERMINATE_STREAM if terminate else Flags.NONE
    headers = envelope(kind, stream_id, flags) + [
        es.string_header(CONTENT_TYPE, CONTENT_TYPE_JSON),
        es.string_header(SERVICE_MODEL_TYPE, model),
    ]
    return es.encode(headers, json.dumps(body).encode())


def control(message_type: MessageType, flags: Flags = Flags.NONE, payload: bytes = b"") -> bytes:
    """A connection-level message (stream 0)."""
    headers = envelope(message_type, 0, flags)
    if message_type == MessageType.PROTOCOL_ERROR or message_type == MessageType.INTERNAL_ERROR:
        headers.append(es.string_header(CONTENT_TYPE, CONTENT_TYPE_JSON))
    return es.encode(headers, payload)


def protocol_error(reason: str) -> bytes:
    return control(MessageType.PROTOCOL_ERROR, payload=json.dumps({"message": reason}).encode())
