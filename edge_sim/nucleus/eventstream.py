"""AWS event-stream framing: pure encode/decode of messages, with CRC checks and size limits.

A message on the wire:

    total_len u32be | headers_len u32be | prelude_crc u32be | headers | payload | message_crc u32be

`prelude_crc` is the CRC32 of the first 8 bytes; `message_crc` the CRC32 of everything before it.
A header is `name_len u8 | name | type u8 | value`. No sockets here: bytes in, messages out.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

PRELUDE_BYTES: Final = 12
CRC_BYTES: Final = 4
MIN_MESSAGE_BYTES: Final = PRELUDE_BYTES + CRC_BYTES
# The limits of the reference implementation (aws-c-event-stream).
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
MAX_HEADERS_BYTES: Final = 128 * 1024
MAX_HEADER_NAME_BYTES: Final = 127


class HeaderType(IntEnum):
    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    BYTES = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


HeaderValue = bool | int | bytes | str | uuid.UUID

_INT_FORMATS: Final = {
    HeaderType.BYTE: ">b",
    HeaderType.INT16: ">h",
    HeaderType.INT32: ">i",
    HeaderType.INT64: ">q",
    HeaderType.TIMESTAMP: ">q",
}


class FrameError(ValueError):
    """Bytes that are not a valid event-stream message. `.evidence` holds the offending bytes."""

    reason = "malformed"

    def __init__(self, message: str, evidence: bytes = b"") -> None:
        super().__init__(message)
        self.evidence = evidence[:64]


class PreludeChecksumError(FrameError):
    reason = "prelude_crc"


class MessageChecksumError(FrameError):
    reason = "message_crc"


class FrameTooLarge(FrameError):
    reason = "oversize"


class HeaderError(FrameError):
    reason = "bad_header"


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    type: HeaderType
    value: HeaderValue


@dataclass(frozen=True, slots=True)
class Message:
    headers: tuple[Header, ...] = ()
    payload: bytes = b""
    _index: dict[str, Header] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for header in self.headers:
            # Header names are case-insensitive; the first occurrence wins.
            self._index.setdefault(header.name.lower(), header)

    def get(self, name: str, default: HeaderValue | None = None) -> HeaderValue | None:
        header = self._index.get(name.lower())
        return default if header is None else header.value

    def header(self, name: str) -> Header | None:
        return self._index.get(name.lower())


def string_header(name: str, value: str) -> Header:
    return Header(name, HeaderType.STRING, value)


def int32_header(name: str, value: int) -> Header:
    return Header(name, HeaderType.INT32, value)


def _encode_header(header: Header) -> bytes:
    name = header.name.encode()
    if not 0 < len(name) <= MAX_HEADER_NAME_BYTES:
        raise HeaderError(f"header name of {len(name)} bytes", name)
    out = bytearray(struct.pack(">B", len(name)))
    out += name
    out += struct.pack(">B", header.type)
    kind, value = header.type, header.value
    if kind in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
        pass
    elif kind in _INT_FORMATS:
        out += struct.pack(_INT_FORMATS[kind], value)
    elif kind in (HeaderType.BYTES, HeaderType.STRING):
        raw = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
        if len(raw) > 0xFFFF:
            raise HeaderError(f"header {header.name!r} value of {len(raw)} bytes", raw)
        out += struct.pack(">H", len(raw)) + raw
    elif kind == HeaderType.UUID:
        out += value.bytes if isinstance(value, uuid.UUID) else bytes(value)  # type: ignore[arg-type]
    else:
        raise HeaderError(f"unknown header type {kind}")
    return bytes(out)


def encode(headers: tuple[Header, ...] | list[Header], payload: bytes = b"") -> bytes:
    """One complete wire message."""
    encoded_headers = b"".join(_encode_header(h) for h in headers)
    if len(encoded_headers) > MAX_HEADERS_BYTES:
        raise FrameTooLarge(f"headers of {len(encoded_headers)} bytes")
    total = PRELUDE_BYTES + len(encoded_headers) + len(payload) + CRC_BYTES
    if total > MAX_MESSAGE_BYTES:
        raise FrameTooLarge(f"message of {total} bytes, limit {MAX_MESSAGE_BYTES}")
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def decode_headers(raw: bytes) -> tuple[Header, ...]:
    headers: list[Header] = []
    pos, end = 0, len(raw)

    def take(count: int) -> bytes:
        nonlocal pos
        if pos + count > end:
            raise HeaderError(f"header block truncated at byte {pos}", raw[pos:])
        chunk = raw[pos : pos + count]
        pos += count
        return chunk

    while pos < end:
        name_len = take(1)[0]
        if name_len == 0:
            raise HeaderError("empty header name", raw[pos - 1 :])
        try:
            name = take(name_len).decode()
        except UnicodeDecodeError as exc:
            raise HeaderError(f"header name is not UTF-8: {exc}", raw) from exc
        code = take(1)[0]
        try:
            kind = HeaderType(code)
        except ValueError as exc:
            raise HeaderError(f"unknown header type {code} for {name!r}", raw) from exc
        value: HeaderValue
        if kind == HeaderType.BOOL_TRUE:
            value = True
        elif kind == HeaderType.BOOL_FALSE:
            value = False
        elif kind in _INT_FORMATS:
            fmt = _INT_FORMATS[kind]
            value = struct.unpack(fmt, take(struct.calcsize(fmt)))[0]
        elif kind in (HeaderType.BYTES, HeaderType.STRING):
            (length,) = struct.unpack(">H", take(2))
            chunk = take(length)
            if kind == HeaderType.STRING:
                try:
                    value = chunk.decode()
                except UnicodeDecodeError as exc:
                    raise HeaderError(f"header {name!r} is not UTF-8", chunk) from exc
            else:
                value = chunk
        else:
            value = uuid.UUID(bytes=take(16))
        headers.append(Header(name, kind, value))
    return tuple(headers)


def check_prelude(prelude: bytes, max_message_bytes: int = MAX_MESSAGE_BYTES) -> tuple[int, int]:
    """(total_len, headers_len) of a 12-byte prelude, or a FrameError."""
    total, headers_len, crc = struct.unpack(">III", prelude)
    if zlib.crc32(prelude[:8]) != crc:
        raise PreludeChecksumError(
            f"prelude CRC {crc:#010x} != computed {zlib.crc32(prelude[:8]):#010x}", prelude
        )
    if total > max_message_bytes:
        raise FrameTooLarge(f"message of {total} bytes, limit {max_message_bytes}", prelude)
    if total < MIN_MESSAGE_BYTES:
        raise FrameError(f"message length {total} below the minimum {MIN_MESSAGE_BYTES}", prelude)
    if headers_len > MAX_HEADERS_BYTES or headers_len > total - MIN_MESSAGE_BYTES:
        raise HeaderError(f"headers length {headers_len} in a {total}-byte message", prelude)
    return total, headers_len


def decode(frame: bytes, max_message_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Decode exactly one complete message."""
    if len(frame) < MIN_MESSAGE_BYTES:
        raise FrameError(f"{len(frame)} bytes is shorter than any message", frame)
    total, headers_len = check_prelude(frame[:PRELUDE_BYTES], max_message_bytes)
    if total != len(frame):
        raise FrameError(f"prelude says {total} bytes, frame has {len(frame)}", frame[:16])
    (crc,) = struct.unpack(">I", frame[-CRC_BYTES:])
    if zlib.crc32(frame[:-CRC_BYTES]) != crc:
        raise MessageChecksumError(f"message CRC {crc:#010x} does not match", frame[:16])
    headers_end = PRELUDE_BYTES + headers_len
    headers = decode_headers(frame[PRELUDE_BYTES:headers_end])
    return Message(headers, bytes(frame[headers_end:-CRC_BYTES]))


class FrameDecoder:
    """Incremental decoder for a byte stream.

    `feed` returns the messages completed so far. A bad frame sets `failed` to the FrameError:
    the stream cannot be resynced after one (there is no sync marker), so the caller answers
    and closes; further input is refused.
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes
        self.failed: FrameError | None = None

    def feed(self, data: bytes) -> list[Message]:
        if self.failed is not None:
            return []
        self._buffer += data
        messages: list[Message] = []
        try:
            while len(self._buffer) >= PRELUDE_BYTES:
                total, _ = check_prelude(bytes(self._buffer[:PRELUDE_BYTES]), self._max)
                if len(self._buffer) < total:
                    break
                frame = bytes(self._buffer[:total])
                del self._buffer[:total]
                messages.append(decode(frame, self._max))
        except FrameError as exc:
            self.failed = exc
            self._buffer.clear()
        return messages

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)
