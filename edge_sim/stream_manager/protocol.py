"""The Stream Manager wire protocol, as spoken by the `stream-manager` SDK (protocol 1.1.0).

Pure: bytes in, values out. The connection opens with one version byte each way (1), then
both sides exchange frames::

    length i32be (= len(payload) + 1) | operation u8 | payload (a CBOR map, camelCase keys)

Requests and answers are matched by the `requestId` string in the payload.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Final

import cbor2

CONNECT_VERSION: Final = 1
PROTOCOL_VERSION: Final = "1.1.0"
SUPPORTED_PROTOCOL_VERSIONS: Final = ("1.1.0", "1.0.0")
SERVER_VERSION: Final = "floorline-edge-sim-1.1.0"

HEADER = struct.Struct(">iB")  # length, operation
# A frame larger than this is refused before its payload is read (the SDK allows 1 GiB; a
# simulated device never needs more than a few Kinesis records per append).
DEFAULT_MAX_FRAME_BYTES: Final = 32 * 1024 * 1024


class Op(enum.IntEnum):
    UNKNOWN = 0
    CONNECT = 1
    CREATE_MESSAGE_STREAM = 2
    DELETE_MESSAGE_STREAM = 3
    APPEND_MESSAGE = 4
    READ_MESSAGES = 5
    CONNECT_RESPONSE = 6
    CREATE_MESSAGE_STREAM_RESPONSE = 7
    DELETE_MESSAGE_STREAM_RESPONSE = 8
    APPEND_MESSAGE_RESPONSE = 9
    READ_MESSAGES_RESPONSE = 10
    LIST_STREAMS = 11
    LIST_STREAMS_RESPONSE = 12
    DESCRIBE_MESSAGE_STREAM = 13
    DESCRIBE_MESSAGE_STREAM_RESPONSE = 14
    UPDATE_MESSAGE_STREAM = 15
    UPDATE_MESSAGE_STREAM_RESPONSE = 16
    UNKNOWN_OPERATION_ERROR = 17


# Request operation -> the operation its answer travels under.
RESPONSE_FOR: Final = {
    Op.CONNECT: Op.CONNECT_RESPONSE,
    Op.CREATE_MESSAGE_STREAM: Op.CREATE_MESSAGE_STREAM_RESPONSE,
    Op.DELETE_MESSAGE_STREAM: Op.DELETE_MESSAGE_STREAM_RESPONSE,
    Op.APPEND_MESSAGE: Op.APPEND_MESSAGE_RESPONSE,
    Op.READ_MESSAGES: Op.READ_MESSAGES_RESPONSE,
    Op.LIST_STREAMS: Op.LIST_STREAMS_RESPONSE,
    Op.DESCRIBE_MESSAGE_STREAM: Op.DESCRIBE_MESSAGE_STREAM_RESPONSE,
    Op.UPDATE_MESSAGE_STREAM: Op.UPDATE_MESSAGE_STREAM_RESPONSE,
}


class Status(enum.IntEnum):
    SUCCESS = 0
    UNKNOWN_FAILURE = 1
    UNAUTHORIZED = 2
    INVALID_REQUEST = 3
    REQUEST_PAYLOAD_TOO_LARGE = 4
    RESOURCE_NOT_FOUND = 5
    SERVER_TIMEOUT = 6
    RESPONSE_PAYLOAD_TOO_LARGE = 7
    UNSUPPORTED_CONNECT_VERSION = 8
    UNEXPECTED_OPERATION = 9
    UNSUPPORTED_PROTOCOL_VERSION = 10
    INVALID_PROTOCOL_VERSION = 11
    FAILED_TO_CONNECT = 12
    NOT_ENOUGH_MESSAGES = 13
    MESSAGE_STORE_READ_ERROR = 14
    OUT_OF_MEMORY_ERROR = 15
    UPDATE_FAILED = 16
    UPDATE_NOT_ALLOWED = 17
    UNKNOWN_OPERATION = 18


class FrameError(ValueError):
    """Bytes that are not a valid frame; `.evidence` holds what was received."""

    reason = "bad_frame"

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class BadFrameLength(FrameError):
    """A length prefix below 1 or above the limit: the byte stream cannot be resynchronised."""

    reason = "bad_length"


class BadPayload(FrameError):
    """A well-framed payload that is not a CBOR map."""

    reason = "bad_cbor"


class RequestError(Exception):
    """A request the server answers with a non-success status."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def encode_frame(op: int, payload: dict[str, Any]) -> bytes:
    body = cbor2.dumps(payload)
    return HEADER.pack(len(body) + 1, int(op)) + body


def parse_header(header: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[int, int]:
    """(operation, payload length) from the 5 header bytes."""
    if len(header) != HEADER.size:
        raise BadFrameLength(f"frame header is {len(header)} bytes, need {HEADER.size}", header)
    length, op = HEADER.unpack(header)
    if length < 1 or length - 1 > max_frame_bytes:
        raise BadFrameLength(
            f"frame length {length} outside 1..{max_frame_bytes + 1}", evidence=header.hex()
        )
    return op, length - 1


def decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        value = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise BadPayload(f"payload is not CBOR: {exc}", evidence=payload[:64].hex()) from exc
    if not isinstance(value, dict):
        raise BadPayload(
            f"payload is a CBOR {type(value).__name__}, not a map", evidence=payload[:64].hex()
        )
    return value


def request_id_of(payload: dict[str, Any]) -> str | None:
    rid = payload.get("requestId")
    return rid if isinstance(rid, str) and rid else None


def error_answer(request_id: str, status: Status, message: str) -> dict[str, Any]:
    return {"requestId": request_id, "status": int(status), "errorMessage": message}


def ok_answer(request_id: str, **fields: Any) -> dict[str, Any]:
    return {"requestId": request_id, "status": int(Status.SUCCESS), **fields}
