"""The HTTP side: uvicorn (httptools, i.e. llhttp, parses) running a bare ASGI app.

No web framework between uvicorn and the two routes: the request is the ASGI scope's method,
path and headers plus a body reader; the answer is a status, JSON bytes and headers. uvicorn
gives keep-alive, pipelining, `100 Continue` on the first body read, graceful shutdown and TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import httptools  # noqa: F401  uvicorn loads it by name (http="httptools"): named here so the build ships it
import uvicorn

from components.http_ingest.answers import Answer
from components.http_ingest.body import BodyReader, BodyTooLarge, content_coding
from components.http_ingest.guard import HttpLimits, protocol_for

_JSON_TYPE = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")
# Open connections get this long to finish their request at shutdown.
SHUTDOWN_GRACE_S = 10.0
KEEP_ALIVE_S = 15.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Request:
    """One request as the handlers see it. Header names are lower case; a repeated header's
    values are joined with ", " (so two Authorization headers are no valid token)."""

    __slots__ = ("method", "path", "http_version", "headers", "_receive", "body_read")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.http_version: str = scope["http_version"]
        raw = scope["headers"]
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
        if len(headers) != len(raw):  # some name came more than once
            headers = {}
            for raw_name, raw_value in raw:
                name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        self._receive = receive
        self.body_read = False

    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None

    def media_type(self) -> tuple[str, str | None]:
        """Content-Type's type/subtype (lower case) and its charset parameter, if any."""
        media, _, params = self.headers.get("content-type", "").partition(";")
        charset = None
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip('"')
        return media.strip().lower(), charset

    async def body(self, limit: int, timeout_s: float) -> bytes:
        """The whole body (inflated). Raises BodyTooLarge, BadEncoding, UnsupportedEncoding,
        TimeoutError (not all of it within `timeout_s`, counting from this call)."""
        coding = content_coding(self.headers.get("content-encoding"))
        length = self.content_length()
        if coding == "identity" and length is not None and length > limit:
            raise BodyTooLarge(f"body over {limit} bytes")
        reader = BodyReader(coding, limit)
        # A bare timer rather than asyncio.timeout(): the same cancel-and-convert, at a
        # fraction of the CPU (this runs for every post).
        task = asyncio.current_task()
        assert task is not None
        expired: list[bool] = []
        timer = asyncio.get_running_loop().call_later(timeout_s, _expire, task, expired)
        try:
            more = True
            while more:
                message = await self._receive()
                if message["type"] != "http.request":  # the client went away
                    raise ConnectionResetError("client disconnected before its body arrived")
                reader.feed(message.get("body", b""))
                more = message.get("more_body", False)
        except asyncio.CancelledError:
            if not expired:  # a shutdown, not our deadline
                raise
            task.uncancel()
            raise TimeoutError(f"body not received in {timeout_s} s") from None
        finally:
            timer.cancel()
        self.body_read = True
        return reader.finish()


def _expire(task: asyncio.Task[Any], expired: list[bool]) -> None:
    expired.append(True)
    task.cancel()


Handler = Callable[[Request], Awaitable[Answer]]


class App:
    """The ASGI application around one handler."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; nothing else is served
            return
        request = Request(scope, receive)
        answer = await self._handler(request)
        headers = [_JSON_TYPE, (b"content-length", str(len(answer.body)).encode())]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        if not request.body_read and _has_body(request):
            # Refused before its body was read: do not drain a body nobody wants.
            headers.append(_CLOSE)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


def listening_socket(address: str, port: int, backlog: int = 1024) -> socket.socket:
    """Bound and listening before the server starts, so the port is known (port 0: any)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class _CallerSignalsServer(uvicorn.Server):
    """Signals are the caller's (it sets `stop`): uvicorn must not install its own handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    handler: Handler,
    sock: socket.socket,
    *,
    tls: ssl.SSLContext | None,
    stop: asyncio.Event,
    limits: HttpLimits | None = None,
    idle_timeout_s: float = KEEP_ALIVE_S,
) -> None:
    """Serve until `stop` is set, then finish the requests in flight (each awaits its commit)
    for up to SHUTDOWN_GRACE_S. `limits`: what a connection may send and how many may be open
    (`guard.py`); `idle_timeout_s`: how long a connection may sit between requests."""
    config = uvicorn.Config(
        App(handler),
        http=protocol_for(limits or HttpLimits()),
        loop="none",  # the running loop (uvloop when installed)
        interface="asgi3",
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=None,
        # uvicorn annotates these int but hands them to asyncio's timers, which take seconds
        # as floats: a fractional idle timeout is honoured.
        timeout_keep_alive=idle_timeout_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,  # type: ignore[arg-type]
        ws="none",
    )
    config.load()
    config.ssl = tls  # our context (TLS 1.2 at least, the ssl module's default ciphers)
    server = _CallerSignalsServer(config)

    async def watch() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()
