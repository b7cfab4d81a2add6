"""The nucleus IPC server: event-stream RPC over a Unix socket, for the real awsiotsdk client.

Embedding:

    server = NucleusServer("/tmp/x/ipc.sock", components={"com.example.Sensors": (token, acl)},
                           config_store=ConfigStore(), cloud=InMemoryCloud(), thing_name="dev-1")
    server.start()      # binds, serves from a background thread; returns when ready
    ...
    server.stop()

One connection per component process: the first message must be CONNECT with the component's
token (`SVCUID`); a wrong token gets CONNECT_ACK without the accepted flag (the client raises
AccessDeniedError) and the connection is closed. A malformed frame or an RPC rule broken gets a
PROTOCOL_ERROR and that connection is closed; the server keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

from components.core.clock import Clock, SystemClock
from components.core.limits import LITE_IPC_MESSAGE_MAX_BYTES
from edge_sim.nucleus import eventstream as es
from edge_sim.nucleus import rpc
from edge_sim.nucleus.access import CLASSIC, FLAVOURS, LITE, AccessPolicy
from edge_sim.nucleus.cloud import CloudConnection, InMemoryCloud
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.mqtt_proxy import MqttProxy
from edge_sim.nucleus.operations import (
    OPERATIONS,
    IpcError,
    answered_as,
    error_shape,
    supported,
)
from edge_sim.nucleus.pubsub import LocalPubSub
from edge_sim.nucleus.shadow import ShadowStore

log = logging.getLogger("edge_sim.nucleus")

SOCKET_PATH_MAX_BYTES: Final = 107  # sun_path is 108 bytes with the terminating NUL
READ_CHUNK_BYTES: Final = 64 * 1024
# A subscriber that stops reading must not grow the server without bound: past this much
# unsent data its events are dropped (and counted).
MAX_PENDING_WRITE_BYTES: Final = 8 * 1024 * 1024
# How long a refused connection may stay open for its client to close it first.
REFUSED_GRACE_S: Final = 2.0


class NucleusServer:
    def __init__(
        self,
        socket_path: str,
        components: Mapping[str, tuple[str, Mapping[str, Any] | None]] | None = None,
        config_store: ConfigStore | None = None,
        cloud: CloudConnection | None = None,
        *,
        thing_name: str = "edge-sim-thing",
        clock: Clock | None = None,
        shadows: ShadowStore | None = None,
        mqtt_options: Mapping[str, Any] | None = None,
        max_message_bytes: int | None = None,
        flavour: str = CLASSIC,
        interpolate: bool = False,
    ) -> None:
        if len(os.fsencode(socket_path)) > SOCKET_PATH_MAX_BYTES:
            raise ValueError(
                f"socket path is {len(os.fsencode(socket_path))} bytes; Unix sockets allow "
                f"{SOCKET_PATH_MAX_BYTES}"
            )
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown nucleus flavour {flavour!r}; one of {FLAVOURS}")
        self.socket_path = socket_path
        self.thing_name = thing_name
        # Which nucleus this one plays (access.py's docstring; operations.py for the rest).
        self.flavour = flavour
        self.interpolate = interpolate
        self.clock = clock or SystemClock()
        self.config = config_store or ConfigStore(self.clock)
        self.cloud = cloud if cloud is not None else InMemoryCloud(self.clock)
        self.mqtt = MqttProxy(self.cloud, self.clock, **dict(mqtt_options or {}))
        self.pubsub = LocalPubSub()
        self.shadows = shadows or ShadowStore(self.clock)
        if max_message_bytes is None:
            max_message_bytes = (
                LITE_IPC_MESSAGE_MAX_BYTES if flavour == LITE else es.MAX_MESSAGE_BYTES
            )
        self.max_message_bytes = max_message_bytes
        self._tokens: dict[str, str] = {}
        self._policies: dict[str, AccessPolicy] = {}
        self._states: dict[str, str] = {}
        self._state_lock = threading.Lock()
        for name, (token, access_control) in (components or {}).items():
            self.add_component(name, token, access_control)
        self.counters: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[_Connection] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # -- components --
    def add_component(
        self, name: str, token: str, access_control: Mapping[str, Any] | None = None
    ) -> None:
        """Register a component (its SVCUID and its recipe's accessControl). Like every
        nucleus service it gets a configuration node, empty until a deployment fills it."""
        policy = AccessPolicy(
            access_control, self.thing_name, flavour=self.flavour, interpolate=self.interpolate
        )
        if name not in self.config.components():
            self.config.set_component(name, {})
        for warning in policy.warnings:
            log.warning("event=policy_ignored component=%s detail=%s", name, warning)
        with self._state_lock:
            self._tokens = {t: c for t, c in self._tokens.items() if c != name}
            self._tokens[token] = name
            self._policies[name] = policy
            self._states.setdefault(name, "NEW")

    def component_for_token(self, token: str) -> str | None:
        with self._state_lock:
            return self._tokens.get(token)

    def access(self, component: str) -> AccessPolicy:
        with self._state_lock:
            return self._policies[component]

    def set_component_state(self, component: str, state: str) -> None:
        with self._state_lock:
            self._states[component] = state

    @property
    def component_states(self) -> dict[str, str]:
        with self._state_lock:
            return dict(self._states)

    # -- life cycle --
    def start(self, timeout_s: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="nucleus-ipc", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("IPC server did not start")
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        self.mqtt.start()

    def stop(self) -> None:
        self.mqtt.stop()
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> NucleusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            if os.path.exists(self.socket_path):
                os.unlink(self.socket_path)
            self._server = loop.run_until_complete(
                asyncio.start_unix_server(self._accept, path=self.socket_path)
            )
        except OSError as exc:
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for conn in list(self._connections):
            conn.close()
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, writer)
        self._connections.add(conn)
        self.counters["connections"] += 1
        decoder = es.FrameDecoder(self.max_message_bytes)
        try:
            while not conn.closed:
                data = await reader.read(READ_CHUNK_BYTES)
                if not data:
                    break
                for message in decoder.feed(data):
                    conn.handle(message)
                    if conn.closed:
                        break
                if decoder.failed is not None and not conn.closed:
                    self.counters[f"frame_error_{decoder.failed.reason}"] += 1
                    log.warning(
                        "event=bad_frame reason=%s detail=%s evidence=%s",
                        decoder.failed.reason,
                        decoder.failed,
                        decoder.failed.evidence,
                    )
                    conn.fail(f"malformed frame: {decoder.failed}")
        except (ConnectionError, OSError) as exc:
            self.counters["connection_errors"] += 1
            log.info("event=connection_error detail=%r", exc)
        finally:
            conn.close()
            self._connections.discard(conn)

    # -- cross-thread event delivery --
    def call_in_loop(self, func: Callable[[], None]) -> None:
        """Run func on the server's loop (events from pub/sub, the cloud, config updates)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.counters["events_after_stop"] += 1
            return
        try:
            loop.call_soon_threadsafe(func)
        except RuntimeError:  # the loop closed between the check and the call
            self.counters["events_after_stop"] += 1

    def stats(self) -> dict[str, Any]:
        """Counters and gauges; read on the server's loop so they are consistent."""
        loop = self._loop
        if (
            loop is not None
            and loop.is_running()
            and threading.current_thread() is not self._thread
        ):

            async def read() -> dict[str, Any]:
                return self._stats_now()

            return asyncio.run_coroutine_threadsafe(read(), loop).result(timeout=5)
        return self._stats_now()

    def _stats_now(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counters)
        out["open_connections"] = len(self._connections)
        out["open_streams"] = sum(len(c.streams) for c in list(self._connections))
        out["mqtt"] = self.mqtt.snapshot()
        out["pubsub_subscriptions"] = self.pubsub.subscription_count
        out["config_subscriptions"] = self.config.subscription_count
        return out


class _Stream:
    def __init__(self, stream_id: int, event_model: str, cancel: Callable[[], None]) -> None:
        self.stream_id = stream_id
        self.event_model = event_model
        self.cancel = cancel


class _Call:
    """One request on one stream; becomes a subscription if the operation streams."""

    def __init__(self, conn: _Connection, stream_id: int) -> None:
        self.conn = conn
        self.server = conn.server
        self.component = conn.component or ""
        self.stream_id = stream_id
        self.stream: _Stream | None = None

    def open_stream(self, event_model: str, cancel: Callable[[], None]) -> None:
        self.stream = _Stream(self.stream_id, event_model, cancel)

    def emit(self, body: dict[str, Any]) -> None:
        # Always through the loop's queue: the response is written first, events after it.
        self.server.call_in_loop(lambda: self.conn.send_event(self.stream_id, body))


class _Connection:
    def __init__(self, server: NucleusServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.component: str | None = None
        self.refused = False
        self.streams: dict[int, _Stream] = {}
        self.last_stream_id = 0
        self.closed = False

    # -- output --
    def _write(self, data: bytes) -> None:
        # is_closing: the component went away (killed, stopping) before this side noticed;
        # writing on would only make asyncio log "socket.send() raised exception." per frame.
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def fail(self, reason: str) -> None:
        self.server.counters["protocol_errors"] += 1
        self._write(rpc.protocol_error(reason))
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for stream in list(self.streams.values()):
            self._end_stream(stream)
        try:
            self.writer.close()
        except (ConnectionError, OSError) as exc:
            log.info("event=close_error detail=%r", exc)

    def _end_stream(self, stream: _Stream) -> None:
        self.streams.pop(stream.stream_id, None)
        stream.cancel()
        self.server.counters["streams_closed"] += 1

    def send_event(self, stream_id: int, body: dict[str, Any]) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or self.closed:
            self.server.counters["events_for_closed_streams"] += 1
            return
        transport = self.writer.transport
        if transport.get_write_buffer_size() > MAX_PENDING_WRITE_BYTES:
            self.server.counters["events_dropped_slow_reader"] += 1
            log.warning("event=event_dropped reason=slow_reader component=%s", self.component)
            return
        self._write(rpc.application(stream_id, stream.event_model, body))
        self.server.counters["events_sent"] += 1

    # -- input --
    def handle(self, message: es.Message) -> None:
        try:
            self._handle(message)
        except rpc.ProtocolViolation as exc:
            log.warning("event=protocol_violation component=%s detail=%s", self.component, exc)
            self.fail(str(exc))

    def _handle(self, message: es.Message) -> None:
        kind_code = rpc.int_header(message, rpc.MESSAGE_TYPE)
        try:
            kind = rpc.MessageType(kind_code)
        except ValueError as exc:
            raise rpc.ProtocolViolation(f"unknown message type {kind_code}") from exc
        flags = rpc.Flags(rpc.int_header(message, rpc.MESSAGE_FLAGS, 0) & 3)
        stream_id = rpc.int_header(message, rpc.STREAM_ID, 0)

        if self.refused:
            self.server.counters["ignored_after_refusal"] += 1
            return
        if kind == rpc.MessageType.PING:
            self._write(rpc.control(rpc.MessageType.PING_RESPONSE, payload=message.payload))
            return
        if kind == rpc.MessageType.PING_RESPONSE:
            return
        if self.component is None:
            if kind != rpc.MessageType.CONNECT:
                raise rpc.ProtocolViolation(f"{kind.name} before CONNECT")
            self._connect(message)
            return
        if kind == rpc.MessageType.CONNECT:
            raise rpc.ProtocolViolation("CONNECT on a connected connection")
        if kind in (rpc.MessageType.PROTOCOL_ERROR, rpc.MessageType.INTERNAL_ERROR):
            self.server.counters["client_reported_errors"] += 1
            self.close()
            return
        if kind not in (rpc.MessageType.APPLICATION_MESSAGE, rpc.MessageType.APPLICATION_ERROR):
            raise rpc.ProtocolViolation(f"{kind.name} is not sent by clients")
        if stream_id <= 0:
            raise rpc.ProtocolViolation(f"application message on stream {stream_id}")

        stream = self.streams.get(stream_id)
        if stream is not None:
            if flags & rpc.Flags.TERMINATE_STREAM:
                self._end_stream(stream)
            else:
                self.server.counters["ignored_stream_messages"] += 1
            return
        if stream_id <= self.last_stream_id:
            # A late message for a stream already closed (e.g. both sides terminated).
            self.server.counters["late_messages"] += 1
            return
        self.last_stream_id = stream_id
        self._request(stream_id, message, flags)

    def _connect(self, message: es.Message) -> None:
        version = message.get(rpc.VERSION)
        token = None
        try:
            body = json.loads(message.payload or b"{}")
            if isinstance(body, dict) and isinstance(body.get("authToken"), str):
                token = body["authToken"]
        except (UnicodeDecodeError, json.JSONDecodeError):
            token = None
        component = self.server.component_for_token(token) if token else None
        if version != rpc.PROTOCOL_VERSION or component is None:
            self.server.counters["connect_refused"] += 1
            log.warning(
                "event=connect_refused version=%s known_token=%s", version, component is not None
            )
            self._write(rpc.control(rpc.MessageType.CONNECT_ACK, rpc.Flags.NONE))
            # The client closes on this answer and then raises AccessDeniedError; closing first
            # would race it into a bare "socket closed". Close later if the client does not.
            self.refused = True
            asyncio.get_running_loop().call_later(REFUSED_GRACE_S, self.close)
            return
        self.component = component
        self.server.counters["connect_accepted"] += 1
        self._write(rpc.control(rpc.MessageType.CONNECT_ACK, rpc.Flags.CONNECTION_ACCEPTED))

    def _request(self, stream_id: int, message: es.Message, flags: rpc.Flags) -> None:
        name = message.get(rpc.OPERATION)
        if not isinstance(name, str):
            raise rpc.ProtocolViolation("new stream without an operation header")
        counters = self.server.counters
        bare = name.removeprefix(rpc.MODEL_PREFIX)
        counters[f"requests.{bare}"] += 1
        operation = OPERATIONS.get(name)
        call = _Call(self, stream_id)
        try:
            if operation is None:
                raise IpcError("ServiceError", f"Operation {name} is not supported by edge_sim")
            if not supported(self.server.flavour, bare):
                raise IpcError("ServiceError", f"Operation {name} is not supported by nucleus lite")
            model = message.get(rpc.SERVICE_MODEL_TYPE)
            if model != operation.request_model:
                raise IpcError(
                    "InvalidArgumentsError",
                    f"service-model-type {model!r} is not {operation.request_model}",
                )
            try:
                request = json.loads(message.payload or b"{}")
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise IpcError("InvalidArgumentsError", f"request is not JSON: {exc}") from exc
            if not isinstance(request, dict):
                raise IpcError("InvalidArgumentsError", "request is not a JSON object")
            response = operation.handler(call, request)
        except Exception as exc:  # every failure becomes an answer on this stream, never a crash
            shape = error_shape(exc)
            if shape is None:
                counters["internal_errors"] += 1
                log.exception("event=handler_failed operation=%s", name)
                shape = IpcError("ServiceError", f"internal error in {name}: {exc!r}")
            shape = answered_as(self.server.flavour, bare, shape)
            counters[f"errors.{shape.shape}"] += 1
            if call.stream is not None:
                call.stream.cancel()
            self._write(
                rpc.application(
                    stream_id,
                    rpc.MODEL_PREFIX + shape.shape,
                    shape.body(),
                    error=True,
                    terminate=True,
                )
            )
            return
        assert operation is not None
        streaming = call.stream is not None and not (flags & rpc.Flags.TERMINATE_STREAM)
        if streaming:
            assert call.stream is not None
            self.streams[stream_id] = call.stream
            counters["streams_opened"] += 1
        elif call.stream is not None:
            call.stream.cancel()
        self._write(
            rpc.application(stream_id, operation.response_model, response, terminate=not streaming)
        )
