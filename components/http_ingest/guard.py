"""Limits a connection meets before any handler runs: the defence against clients that send
huge or endless request heads, hold connections open without sending, or open too many.

uvicorn's httptools protocol has no limit on the request line, the header bytes or count, and
no timeout while a head trickles in (its keep-alive timer stops at the first byte), and the
parser buffers a header value whole: 16 MiB of headers grew the process by 386 MiB. Here, per
connection, bytes are counted *before* they reach the parser (it never holds more than
`max_header_bytes` of a head), a head that is not complete in
`header_timeout_s` (or a connection that sends nothing) is answered 408 and closed, and
connections past `max_connections` are answered 503 at once and closed. Every refusal is
counted. Each answer is a complete HTTP response with `Connection: close`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from components.http_ingest.answers import Answer, error

_REASONS = {
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    max_request_line_bytes: int = 8192
    max_header_bytes: int = 16384  # request line and headers together
    max_headers: int = 64
    header_timeout_s: float = 10.0
    max_connections: int = 256
    counters: Counter[str] = field(default_factory=Counter, compare=False)


def _raw(answer: Answer) -> bytes:
    head = [
        b"HTTP/1.1 %d %s" % (answer.status, _REASONS[answer.status]),
        b"content-type: application/json",
        b"content-length: %d" % len(answer.body),
        b"connection: close",
    ]
    head += [f"{k}: {v}".encode("latin-1") for k, v in answer.headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + answer.body


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (`limits` set by `protocol_for`)."""

    limits: HttpLimits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # bytes now arriving belong to a request head
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            msg = f"more than {self.limits.max_connections} connections open; retry"
            self._refuse(
                "connections_refused",
                error(503, "too_many_connections", msg, ("Retry-After", "1")),
            )
            return
        self._arm_head_timer()  # a connection that never sends is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            # Counted before the parser sees (and buffers) them: it gets at most the bytes
            # left under the limit, and if the head is still not complete, the answer is 431.
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) > room:
                super().data_received(data[:room])
                if self._refused or self.transport.is_closing():
                    return
                if self._in_head:
                    msg = f"request line and headers over {self.limits.max_header_bytes} bytes"
                    self._refuse("head_too_large", error(431, "headers_too_large", msg))
                    return
                self.data_received(data[room:])  # the body, or the next pipelined request
                return
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)

    # parser callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_request_line_bytes:
            msg = f"request target over {self.limits.max_request_line_bytes} bytes"
            self._refuse("request_line_too_long", error(414, "uri_too_long", msg))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            msg = f"more than {self.limits.max_headers} header fields"
            self._refuse("too_many_headers", error(431, "too_many_headers", msg))
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_head = True
        super().on_message_complete()

    # ------------------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_expired)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            msg = f"request head not received in {self.limits.header_timeout_s} s"
            self._refuse("header_timeouts", error(408, "header_timeout", msg))

    def _refuse(self, counter: str, answer: Answer) -> None:
        if self._refused:
            return
        self._refused = True
        self.limits.counters[counter] += 1
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        if not self.transport.is_closing():
            self.transport.write(_raw(answer))
            self.transport.close()


def protocol_for(limits: HttpLimits) -> type[GuardedProtocol]:
    """A protocol class bound to `limits` (uvicorn instantiates the class itself)."""
    return type("GuardedHttpProtocol", (GuardedProtocol,), {"limits": limits})
