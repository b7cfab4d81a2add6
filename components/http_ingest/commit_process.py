"""The commit process: the records' side of the component, beside the HTTP process.

The HTTP process speaks HTTP and checks what needs no body (token, content type, key, size,
encoding); this process does the rest (`intake.py`: JSON, devices, rate, schemas) and owns the
log's writer (`writer.py`: group commit), then builds the answer. Two processes because each
runs out of something else: the HTTP process of CPU (parsing, TLS, sockets), a commit of time
to run. A commit is several SQLite calls; in a thread, with the event loop busy on a hundred
requests, a commit needing 1.5 ms of work took 7-9 ms waiting to win the interpreter lock back.
Here it never waits, and the checks run on the second core.

Wire (a socketpair; frames of a 4-byte big-endian length and JSON; a body travels as a
latin-1 string, i.e. its bytes one to one):
  HTTP -> commit: ["settings", {key: value for the keys in intake.INTAKE_KEYS}]  first, then
                  on every configuration update; and per event-loop pass
                  ["jobs", [[job_id, device, idempotency_key or null, body], ...]]
  commit -> HTTP: ["ready", pid]  once the log is open, then per commit
                  ["done", [[job_id, status, answer_body, [[header, value], ...]], ...],
                   {"writer": WriterStats, "counters": {...}, "log_full_age_s": s or null}]
A 202 still means committed: it is built here, after the commit holding its records.
The commit process exits when the HTTP process closes the socket (or dies), after finishing
the commit it is in; if it dies, every request waiting fails (503) and the component exits, so
Greengrass restarts it.

Run by the HTTP process: `python -m components.http_ingest.commit_process` with the socket's
file descriptor in FLOORLINE_COMMIT_FD and the log's configuration keys in FLOORLINE_CONFIG_JSON.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from components.core.clock import Clock
from components.core.log.config import LogSettings
from components.http_ingest.answers import Answer, dumps, error
from components.http_ingest.intake import INTAKE_KEYS, Intake, Plan
from components.http_ingest.writer import GroupCommitter, WriterStats

if TYPE_CHECKING:  # the commit process itself never loads the HTTP side's settings
    from components.http_ingest.config import HttpIngestSettings

log = logging.getLogger("floorline.http_ingest.commit")

_LEN = struct.Struct(">I")
FD_ENV = "FLOORLINE_COMMIT_FD"
CONFIG_ENV = "FLOORLINE_CONFIG_JSON"
THING_ENV = "FLOORLINE_COMMIT_THING"


class CommitFailed(Exception):
    """The commit process is not running (it died, or never started)."""


# ---------------------------------------------------------------------- wire (pure)
def frame(message: Any) -> bytes:
    body = dumps(message).encode()
    return _LEN.pack(len(body)) + body


def split_frames(buffer: bytearray) -> list[Any]:
    """The complete frames at the start of `buffer` (removed from it), decoded."""
    out: list[Any] = []
    at = 0
    while len(buffer) - at >= 4:
        (n,) = _LEN.unpack_from(buffer, at)
        if len(buffer) - at - 4 < n:
            break
        out.append(json.loads(buffer[at + 4 : at + 4 + n]))
        at += 4 + n
    del buffer[:at]
    return out


def answer_to_wire(job_id: int, answer: Answer) -> list[Any]:
    return [job_id, answer.status, answer.body.decode("latin-1"), answer.headers]


def answer_from_wire(wire: list[Any]) -> Answer:
    _, status, body, headers = wire
    return Answer(status, body.encode("latin-1"), tuple((k, v) for k, v in headers))


# ---------------------------------------------------------------------- the commit process
def serve(sock: socket.socket, committer: GroupCommitter, clock: Clock) -> None:
    """Check and commit what arrives until the other side closes the socket."""
    buffer = bytearray()
    intake: Intake | None = None
    waiting: list[tuple[int, Plan]] = []
    answered: list[list[Any]] = []
    sock.setblocking(True)
    sock.sendall(frame(["ready", os.getpid()]))
    while True:
        if not waiting:  # block for the next frame
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            buffer += chunk
        while True:  # and take whatever else is already there: that is the group commit
            try:
                chunk = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not chunk:
                break
            buffer += chunk
        for kind, body in split_frames(buffer):
            if kind == "jobs":
                for job_id, device, key, raw in body:
                    prepared = _prepare(intake, device, key, raw.encode("latin-1"))
                    if isinstance(prepared, Plan):
                        waiting.append((job_id, prepared))
                    else:
                        answered.append(answer_to_wire(job_id, prepared))
            elif kind == "settings":
                if intake is None:
                    intake = Intake(body, clock)
                else:
                    intake.apply(body)
                committer.max_commit_records = body["maxCommitRecords"]
                committer.key_retention_s = body["idempotencyRetentionSeconds"]
                committer.max_keys = body["maxIdempotencyKeys"]
        if waiting:
            assert intake is not None  # a plan is made only once settings came
            take, records = 0, 0
            while take < len(waiting) and (take == 0 or records < committer.max_commit_records):
                records += sum(len(g.records) for g in waiting[take][1].appends)
                take += 1
            batch, waiting = waiting[:take], waiting[take:]
            outcomes = committer.commit([plan.appends for _, plan in batch])
            answered += [
                answer_to_wire(job_id, intake.settle(plan, outcome))
                for (job_id, plan), outcome in zip(batch, outcomes, strict=True)
            ]
        if answered:
            sock.sendall(frame(["done", answered, _stats(committer, intake, clock)]))
            answered = []


def _prepare(intake: Intake | None, device: str, key: str | None, raw: bytes) -> Plan | Answer:
    """intake.prepare, with a fault in it costing one request a 500, not the component."""
    if intake is None:
        return error(503, "not_ready", "no settings yet; retry", ("Retry-After", "1"))
    try:
        return intake.prepare(device, key, raw)
    except Exception:
        intake.counters["internal_errors"] += 1
        log.exception("event=intake_failed device=%s", device)
        return error(500, "internal_error", "the records could not be checked")


def _stats(committer: GroupCommitter, intake: Intake | None, clock: Clock) -> dict[str, Any]:
    full = intake.last_full_mono_ns if intake is not None else None
    return {
        "writer": asdict(committer.stats),
        "counters": dict(intake.counters) if intake is not None else {},
        "log_full_age_s": None if full is None else (clock.monotonic_ns() - full) / 1e9,
    }


def main() -> int:
    from components.core.clock import SystemClock
    from components.core.config import Spec
    from components.core.log.config import open_log

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    # A stop signal to the process group is the HTTP process's to handle: it finishes the
    # requests in flight, then closes the socket, and that is when this process ends.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=int(os.environ[FD_ENV]))
    given = json.loads(os.environ[CONFIG_ENV])
    # Only the log's keys (checked as the HTTP process checked them); the intake settings
    # follow in a "settings" frame.
    cfg = Spec(LogSettings).parse(given)
    clock = SystemClock()
    lg = open_log(cfg, os.environ[THING_ENV], clock)
    committer = GroupCommitter(lg)
    # What is built so far lives as long as the process: out of the collector's full passes.
    gc.collect()
    gc.freeze()
    try:
        serve(sock, committer, clock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the HTTP process is gone: nobody is waiting for an answer
    finally:
        lg.close()
    return 0


# ---------------------------------------------------------------------- the HTTP side
class CommitProcess:
    """What the HTTP process talks to: `submit` resolves to the answer, built once the
    records are committed (or refused)."""

    def __init__(self, config: LogSettings, thing: str) -> None:
        self._config = config
        self._thing = thing
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._outgoing: list[list[Any]] = []
        self._unsent = bytearray()
        self._incoming = bytearray()
        self._ready: asyncio.Future[int] | None = None
        self._settings: dict[str, Any] | None = None
        self.stats = WriterStats()
        self.counters: dict[str, int] = {}  # what the intake decided, as of the last answer
        self._full_age: tuple[float, float] | None = None  # (age then, our monotonic then)
        self.died: asyncio.Event | None = None

    async def start(self) -> None:
        """Start the commit process and wait until its log is open."""
        self._loop = asyncio.get_running_loop()
        self.died = asyncio.Event()
        ours, theirs = socket.socketpair()
        # The log's keys only: tokens and schemas are none of its business.
        log_config = {f.name: getattr(self._config, f.name) for f in fields(LogSettings)}
        env = {
            **os.environ,
            FD_ENV: str(theirs.fileno()),
            CONFIG_ENV: json.dumps(log_config),
            THING_ENV: self._thing,
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "components.http_ingest.commit_process"],
            pass_fds=[theirs.fileno()],
            env=env,
        )
        theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._ready = self._loop.create_future()
        self._loop.add_reader(ours.fileno(), self._on_readable)
        if self._settings is not None:
            self._send(["settings", self._settings])
        pid = await self._ready
        log.info("event=commit_process_ready pid=%d", pid)

    def configure(self, config: HttpIngestSettings) -> None:
        """The intake's settings (its keys of `config`); kept, and sent now or as soon as
        the process starts. They apply to every body sent after them."""
        self._settings = {k: getattr(config, k) for k in INTAKE_KEYS}
        self._send(["settings", self._settings])

    def queue_depth(self) -> int:
        return len(self._waiting)

    def log_full_age_s(self) -> float | None:
        """Seconds since the log last refused a request for want of room (None: never)."""
        if self._full_age is None:
            return None
        age, seen = self._full_age
        return age + time.monotonic() - seen

    async def submit(self, device: str, request_key: str | None, raw: bytes) -> Answer:
        """The answer to `raw`, posted by `device` (authenticated). A 202 is built only
        after the commit. Raises CommitFailed if the commit process is not running."""
        if self.died is None or self.died.is_set():
            raise CommitFailed("the commit process is not running")
        assert self._loop is not None
        job_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Answer] = self._loop.create_future()
        self._waiting[job_id] = future
        # One frame per loop pass carries every job of that pass: one write, one read, and
        # the commit process gets a group to commit (sending each job at once was measured:
        # 2.5x the commit process's CPU, smaller groups and a worse tail).
        if not self._outgoing:
            self._loop.call_soon(self._flush_jobs)
        self._outgoing.append([job_id, device, request_key, raw.decode("latin-1")])
        return await future

    async def stop(self) -> None:
        """Close our side; the commit process finishes its commit and exits."""
        if self._sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
                self._loop.remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._proc.wait)

    # -------------------------------------------------------------- socket plumbing
    def _flush_jobs(self) -> None:
        jobs, self._outgoing = self._outgoing, []
        if jobs:
            self._send(["jobs", jobs])

    def _send(self, message: Any) -> None:
        if self._sock is None:
            return
        self._unsent += frame(message)
        self._on_writable()

    def _on_writable(self) -> None:
        assert self._sock is not None and self._loop is not None
        try:
            sent = self._sock.send(self._unsent)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._on_death(f"cannot write to the commit process: {exc}")
            return
        del self._unsent[:sent]
        if self._unsent:
            self._loop.add_writer(self._sock.fileno(), self._on_writable)
        else:
            self._loop.remove_writer(self._sock.fileno())

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            self._on_death(f"cannot read from the commit process: {exc}")
            return
        if not chunk:
            self._on_death("the commit process exited")
            return
        self._incoming += chunk
        for message in split_frames(self._incoming):
            if message[0] == "ready":
                assert self._ready is not None
                self._ready.set_result(message[1])
            elif message[0] == "done":
                for wire in message[1]:
                    future = self._waiting.pop(wire[0])
                    if not future.done():  # else the client went away (its records are in)
                        future.set_result(answer_from_wire(wire))
                stats = message[2]
                self.stats = WriterStats(**stats["writer"])
                self.counters = stats["counters"]
                if stats["log_full_age_s"] is not None:
                    self._full_age = (stats["log_full_age_s"], time.monotonic())

    def _on_death(self, why: str) -> None:
        log.error("event=commit_process_lost reason=%r waiting=%d", why, len(self._waiting))
        assert self._loop is not None and self._sock is not None
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CommitFailed(why))
        self._waiting.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(CommitFailed(why))
        assert self.died is not None
        self.died.set()


if __name__ == "__main__":
    sys.exit(main())
