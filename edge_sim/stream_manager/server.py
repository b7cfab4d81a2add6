"""A Stream Manager server for one simulated device, over the real SDK's TCP protocol.

    with StreamManagerServer(root, auth_tokens={"tok"}, sink=LocalDirKinesis(lake)) as sm:
        os.environ["STREAM_MANAGER_SERVER_PORT"] = str(sm.port)

Runs an asyncio loop on its own thread, bound to 127.0.0.1 on a free port (or a given one).
Each connection is authenticated once by the Connect request's token; requests on it are
served concurrently (the SDK multiplexes one socket across threads), answers matched by
requestId. Bad input never ends the server: a frame with a bad length closes that
connection (the byte stream cannot be resynchronised), a payload that is not a CBOR map is
counted and skipped, a request without a requestId is counted and skipped, anything else
gets an error status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.core.clock import Clock, SystemClock

from . import protocol as p
from .definition import (
    Persistence,
    StreamDefinition,
    check_update,
    parse_definition,
)
from .export import KinesisExporter, Progress
from .kinesis import KinesisSink, MemoryKinesis
from .protocol import Op, RequestError, Status
from .store import MessageStream, file_key

log = logging.getLogger(__name__)

# A ReadMessages answer stops growing past this many payload bytes (at least one message).
MAX_READ_RESPONSE_BYTES = 16 * 1024 * 1024


class StreamManagerServer:
    def __init__(
        self,
        root: Path,
        auth_tokens: Iterable[str] | None = None,
        sink: KinesisSink | None = None,
        clock: Clock | None = None,
        port: int = 0,
        speed: float = 1.0,
        max_frame_bytes: int = p.DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        """`auth_tokens=None` accepts any client (Greengrass checks the component's token)."""
        self.root = Path(root)
        self.auth_tokens = set(auth_tokens) if auth_tokens is not None else None
        self.sink: KinesisSink = sink if sink is not None else MemoryKinesis()
        self.clock = clock or SystemClock()
        self.speed = speed
        self.max_frame_bytes = max_frame_bytes
        self._requested_port = port
        self.port = 0
        self.streams: dict[str, MessageStream] = {}
        self.exporters: dict[str, list[KinesisExporter]] = {}
        self.stats: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._appended: asyncio.Condition | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> StreamManagerServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        (self.root / "streams").mkdir(parents=True, exist_ok=True)
        self._load_streams()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._listen())
            except OSError as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="stream-manager", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        log.info("event=stream_manager_started port=%d root=%s", self.port, self.root)

    async def _listen(self) -> None:
        self._appended = asyncio.Condition()
        self._server = await asyncio.start_server(
            self._on_connection, "127.0.0.1", self._requested_port
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        for exporters in self.exporters.values():
            for e in exporters:
                e.stop()
        if self._loop is not None and self._thread is not None:
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            fut.result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None
        for stream in self.streams.values():
            stream.close()
        self.streams.clear()
        self.exporters.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conn_tasks):
            task.cancel()
        await asyncio.gather(*self._conn_tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def add_token(self, token: str) -> None:
        """Accept another component's token (the nucleus starts components one by one)."""
        if self.auth_tokens is None:
            self.auth_tokens = set()
        self.auth_tokens.add(token)

    # ---- streams -------------------------------------------------------------------------

    def _stream_dir(self, name: str) -> Path:
        return self.root / "streams" / file_key(name)

    def _load_streams(self) -> None:
        for directory in sorted((self.root / "streams").iterdir()):
            def_path = directory / "definition.json"
            if not def_path.exists():
                continue
            try:
                definition = parse_definition(json.loads(def_path.read_text()))
            except (RequestError, ValueError) as exc:
                self.stats["streams_unreadable"] += 1
                log.error("event=stream_unreadable dir=%s error=%r", directory.name, str(exc))
                continue
            stream = self._open_stream(definition)
            sent = [
                e.progress.last_exported_seq
                for e in self.exporters[stream.name]
                if e.progress.exported_messages or e.progress.skipped_messages
            ]
            stream.skip_to(max(sent, default=-1) + 1)
            log.info("event=stream_loaded stream=%s", definition.name)

    def _open_stream(self, definition: StreamDefinition) -> MessageStream:
        directory = self._stream_dir(definition.name)
        if definition.persistence == Persistence.MEMORY and directory.exists():
            shutil.rmtree(directory)
        stream = MessageStream(definition, directory, self.clock)
        self.streams[definition.name] = stream
        self._start_exporters(stream)
        return stream

    def _start_exporters(
        self, stream: MessageStream, carried: dict[str, Progress] | None = None
    ) -> None:
        carried = carried or {}
        exporters = [
            KinesisExporter(stream, k, self.sink, self.clock, self.speed, carried.get(k.identifier))
            for k in stream.definition.kinesis
        ]
        self.exporters[stream.name] = exporters
        for e in exporters:
            e.start()

    def _stop_exporters(self, name: str) -> dict[str, Progress]:
        """Stops a stream's exporters; returns their progress by export identifier."""
        progress = {}
        for e in self.exporters.pop(name, []):
            e.stop()
            progress[e.export.identifier] = e.progress
        return progress

    def _get(self, name: Any) -> MessageStream:
        stream = self.streams.get(name) if isinstance(name, str) else None
        if stream is None:
            raise RequestError(Status.RESOURCE_NOT_FOUND, f"stream {name!r} does not exist")
        return stream

    def snapshot(self) -> dict[str, Any]:
        """Everything a fleet summary or a technician needs, per stream, plus server counters."""
        streams = {}
        for name, stream in list(self.streams.items()):
            streams[name] = {
                "storage": stream.storage_status(),
                "counters": dict(stream.stats),
                "exports": [
                    {
                        **e.status(),
                        "failures": e.failures,
                        "skippedMessages": e.progress.skipped_messages,
                        "skippedEvicted": e.progress.skipped_evicted,
                    }
                    for e in self.exporters.get(name, [])
                ],
            }
        return {"streams": streams, "server": dict(self.stats)}

    # ---- connections ---------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        self.stats["connections"] += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.stats["connections_dropped"] += 1
        except p.FrameError as exc:
            self._count_bad(exc)
        except asyncio.CancelledError:
            pass  # server shutdown: the connection just closes
        except Exception:  # a server bug must cost one connection, not the device
            self.stats["internal_errors"] += 1
            log.exception("event=internal_error where=connection")
        finally:
            self._conn_tasks.discard(task)
            writer.close()

    def _count_bad(self, exc: p.FrameError) -> None:
        self.stats[f"bad_frames_{exc.reason}"] += 1
        log.warning(
            "event=bad_frame reason=%s error=%r evidence=%s",
            exc.reason,
            str(exc),
            str(exc.evidence)[:80],
        )

    async def _read_frame(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        op, length = p.parse_header(await reader.readexactly(p.HEADER.size), self.max_frame_bytes)
        return op, await reader.readexactly(length)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version = (await reader.readexactly(1))[0]
        writer.write(bytes([p.CONNECT_VERSION]))
        op, raw = await self._read_frame(reader)
        request = p.decode_payload(raw)
        rid = p.request_id_of(request) or ""
        if op != Op.CONNECT:
            self.stats["connect_unexpected_op"] += 1
            await self._send(
                writer,
                Op.CONNECT_RESPONSE,
                p.error_answer(
                    rid, Status.UNEXPECTED_OPERATION, f"expected Connect, got operation {op}"
                ),
            )
            return
        status, message = self._check_connect(version, request)
        answer = (
            p.error_answer(rid, status, message)
            if status != Status.SUCCESS
            else p.ok_answer(
                rid,
                protocolVersion=message,
                supportedProtocolVersions=list(p.SUPPORTED_PROTOCOL_VERSIONS),
                serverVersion=p.SERVER_VERSION,
                clientIdentifier=str(uuid.uuid4()),
            )
        )
        # Count before answering: the client may act on the answer before this task resumes.
        if status != Status.SUCCESS:
            self.stats["connect_refused"] += 1
            log.warning("event=connect_refused status=%s reason=%r", status.name, message)
            await self._send(writer, Op.CONNECT_RESPONSE, answer)
            return
        self.stats["connect_accepted"] += 1
        await self._send(writer, Op.CONNECT_RESPONSE, answer)
        write_lock = asyncio.Lock()
        pending: set[asyncio.Task[Any]] = set()
        try:
            while True:
                op, raw = await self._read_frame(reader)
                self.stats["frames"] += 1
                try:
                    request = p.decode_payload(raw)
                except p.BadPayload as exc:
                    self._count_bad(exc)
                    continue
                request_id = p.request_id_of(request)
                if request_id is None:
                    self.stats["requests_without_id"] += 1
                    log.warning("event=request_without_id op=%s", op)
                    continue
                t = asyncio.create_task(self._answer(writer, write_lock, op, request_id, request))
                pending.add(t)
                t.add_done_callback(pending.discard)
        finally:
            for t in pending:
                t.cancel()

    def _check_connect(self, version: int, request: dict[str, Any]) -> tuple[Status, str]:
        """(SUCCESS, negotiated protocol version) or (refusal status, reason)."""
        if version != p.CONNECT_VERSION:
            return Status.UNSUPPORTED_CONNECT_VERSION, f"connect version {version} unsupported"
        token = request.get("authToken")
        if self.auth_tokens is not None and not (
            isinstance(token, str) and token in self.auth_tokens
        ):
            return Status.UNAUTHORIZED, "authToken is missing or not valid"
        offered = request.get("protocolVersion")
        if not isinstance(offered, str):
            return Status.INVALID_PROTOCOL_VERSION, "protocolVersion is missing"
        others = request.get("otherSupportedProtocolVersions")
        acceptable = [offered] + (others if isinstance(others, list) else [])
        for v in acceptable:  # the client's preference first
            if isinstance(v, str) and v in p.SUPPORTED_PROTOCOL_VERSIONS:
                return Status.SUCCESS, v
        return Status.UNSUPPORTED_PROTOCOL_VERSION, f"protocol {offered!r} unsupported"

    async def _send(self, writer: asyncio.StreamWriter, op: int, answer: dict[str, Any]) -> None:
        if writer.is_closing():  # the client is gone; its read loop ends at end of stream
            return
        writer.write(p.encode_frame(op, answer))
        await writer.drain()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        write_lock: asyncio.Lock,
        op: int,
        rid: str,
        request: dict[str, Any],
    ) -> None:
        handler = self._HANDLERS.get(Op(op)) if op in self._HANDLERS else None
        if handler is None:
            self.stats["unknown_operations"] += 1
            answer_op = Op.UNKNOWN_OPERATION_ERROR
            answer = p.error_answer(rid, Status.UNKNOWN_OPERATION, f"unknown operation {op}")
        else:
            answer_op = p.RESPONSE_FOR[Op(op)]
            try:
                answer = p.ok_answer(rid, **(await handler(self, request)))
                self.stats[f"ok_{Op(op).name.lower()}"] += 1
            except RequestError as exc:
                self.stats[f"status_{exc.status.name.lower()}"] += 1
                answer = p.error_answer(rid, exc.status, exc.message)
            except OSError as exc:
                self.stats["status_unknown_failure"] += 1
                log.error("event=request_failed op=%s error=%r", op, str(exc))
                answer = p.error_answer(rid, Status.UNKNOWN_FAILURE, f"server I/O error: {exc}")
            except Exception as exc:  # a server bug must cost one request, not the device
                self.stats["internal_errors"] += 1
                log.exception("event=internal_error op=%s", op)
                answer = p.error_answer(rid, Status.UNKNOWN_FAILURE, f"internal error: {exc!r}")
        async with write_lock:
            try:
                await self._send(writer, answer_op, answer)
            except ConnectionError:
                self.stats["answers_undeliverable"] += 1

    # ---- operations ----------------------------------------------------------------------

    async def _create(self, req: dict[str, Any]) -> dict[str, Any]:
        definition = parse_definition(req.get("definition"))
        if definition.name in self.streams:
            raise RequestError(Status.INVALID_REQUEST, f"stream {definition.name!r} already exists")
        self._open_stream(definition)
        log.info("event=stream_created stream=%s", definition.name)
        return {}

    async def _delete(self, req: dict[str, Any]) -> dict[str, Any]:
        stream = self._get(req.get("name"))
        self._stop_exporters(stream.name)
        del self.streams[stream.name]
        stream.destroy()
        log.info("event=stream_deleted stream=%s", stream.name)
        return {}

    async def _update(self, req: dict[str, Any]) -> dict[str, Any]:
        new = parse_definition(req.get("definition"))
        stream = self._get(new.name)
        check_update(stream.definition, new, stream.total_bytes)
        progress = self._stop_exporters(stream.name)
        stream.update(new)
        self._start_exporters(stream, progress)
        return {}

    async def _append(self, req: dict[str, Any]) -> dict[str, Any]:
        stream = self._get(req.get("name"))
        payload = req.get("payload")
        if not isinstance(payload, bytes):
            raise RequestError(Status.INVALID_REQUEST, "payload must be bytes")
        seq = stream.append(payload)
        assert self._appended is not None
        async with self._appended:
            self._appended.notify_all()
        return {"sequenceNumber": seq}

    async def _read(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req.get("streamName")
        stream = self._get(name)
        start, lo, hi, timeout_ms = _read_options(req.get("readMessagesOptions"))
        assert self._loop is not None and self._appended is not None
        deadline = self._loop.time() + timeout_ms / 1000
        while True:
            stream = self._get(name)  # a stream deleted while we wait is gone
            stream.expire()
            if stream.count_from(start) >= lo:
                break
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                raise RequestError(
                    Status.NOT_ENOUGH_MESSAGES,
                    f"stream {name!r} has {stream.count_from(start)} messages from {start}, "
                    f"{lo} required",
                )
            async with self._appended:
                try:
                    await asyncio.wait_for(self._appended.wait(), min(remaining, 1.0))
                except TimeoutError:
                    pass  # re-check: TTL and deletion do not notify
        messages = stream.read(start, hi, MAX_READ_RESPONSE_BYTES)
        if len(messages) < lo:
            raise RequestError(
                Status.RESPONSE_PAYLOAD_TOO_LARGE,
                f"{lo} messages exceed the {MAX_READ_RESPONSE_BYTES}-byte answer limit",
            )
        return {
            "messages": [
                {
                    "streamName": name,
                    "sequenceNumber": m.seq,
                    "ingestTime": m.ingest_ms,
                    "payload": m.payload,
                }
                for m in messages
            ]
        }

    async def _list(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"streams": sorted(self.streams)}

    async def _describe(self, req: dict[str, Any]) -> dict[str, Any]:
        stream = self._get(req.get("name"))
        stream.expire()
        return {
            "messageStreamInfo": {
                "definition": stream.definition.to_wire(),
                "storageStatus": stream.storage_status(),
                "exportStatuses": [e.status() for e in self.exporters.get(stream.name, [])],
            }
        }

    _HANDLERS = {
        Op.CREATE_MESSAGE_STREAM: _create,
        Op.DELETE_MESSAGE_STREAM: _delete,
        Op.UPDATE_MESSAGE_STREAM: _update,
        Op.APPEND_MESSAGE: _append,
        Op.READ_MESSAGES: _read,
        Op.LIST_STREAMS: _list,
        Op.DESCRIBE_MESSAGE_STREAM: _describe,
    }


def _read_options(options: Any) -> tuple[int, int, int, int]:
    """(start, min count, max count, timeout ms) with the SDK's defaults."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise RequestError(Status.INVALID_REQUEST, "readMessagesOptions must be a map")

    def get(key: str, default: int | None, lo: int) -> int | None:
        value = options.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise RequestError(Status.INVALID_REQUEST, f"{key} must be an integer >= {lo}")
        return value

    start = get("desiredStartSequenceNumber", 0, 0)
    lo = get("minMessageCount", 1, 1)
    hi = get("maxMessageCount", None, 1)
    timeout_ms = get("readTimeoutMillis", 0, 0)
    assert start is not None and lo is not None and timeout_ms is not None
    hi = hi if hi is not None else lo
    if hi < lo:
        raise RequestError(Status.INVALID_REQUEST, f"maxMessageCount {hi} < minMessageCount {lo}")
    return start, lo, hi, timeout_ms
