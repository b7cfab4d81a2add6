"""The commit process: the log's writer, beside the HTTP process, one socket between them.

Why a process and not a thread: a commit is several SQLite calls, and a thread must win the
interpreter lock back after each one. With the event loop busy on a hundred requests, a commit
needing 1.5 ms of work took 7-9 ms to finish that way. In its own process it never waits.

Wire (a socketpair; frames of a 4-byte big-endian length and JSON):
  HTTP -> commit: ["jobs", [[job_id, [[key, fingerprint, [[stream, cls, payload, device], ...]],
                   ...]], ...]]  and  ["settings", {max_commit_records, key_retention_s,
                   max_keys}]
  commit -> HTTP: ["ready", pid]  once the log is open, then
                  ["done", [[job_id, outcome], ...], {stats}] per commit, outcome one of
                  [0, [[identities, replayed, fingerprint], ...]]   committed
                  [1, cls, used_bytes, budget_bytes, message]        BudgetExceeded
                  [2, "Type: message"]                              any other failure
A 202 still means committed: the HTTP side answers only after the "done" holding its job.
The commit process exits when the HTTP process closes the socket (or dies), after finishing
the commit it is in; if it dies, every request waiting fails (503) and the component exits, so
Greengrass restarts it.

Run by the HTTP process: `python -m components.http_ingest.commit_process` with the socket's
file descriptor in FLOORLINE_COMMIT_FD and the log's configuration keys in FLOORLINE_CONFIG_JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from components.core.log import BudgetExceeded, KeyedAppend, KeyedResult, NewRecord
from components.core.log_config import LOG_KEYS
from components.http_ingest.writer import GroupCommitter, Outcome, WriterStats

log = logging.getLogger("floorline.http_ingest.commit")

_LEN = struct.Struct(">I")
LOG_KEY_NAMES = tuple(k.name for k in LOG_KEYS)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
FD_ENV = "FLOORLINE_COMMIT_FD"
CONFIG_ENV = "FLOORLINE_CONFIG_JSON"
THING_ENV = "FLOORLINE_COMMIT_THING"


class CommitFailed(Exception):
    """The log could not commit a request (other than full), or the commit process died."""


# ---------------------------------------------------------------------- wire (pure)
def frame(message: Any) -> bytes:
    body = _dumps(message).encode()
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


def groups_to_wire(groups: Sequence[KeyedAppend]) -> list[Any]:
    return [
        [g.key, g.fingerprint, [[r.stream, r.cls, r.payload, r.device] for r in g.records]]
        for g in groups
    ]


def groups_from_wire(wire: list[Any]) -> list[KeyedAppend]:
    return [
        KeyedAppend(key, [NewRecord(s, c, p, device=d) for s, c, p, d in records], fingerprint)
        for key, fingerprint, records in wire
    ]


def outcome_to_wire(outcome: Outcome) -> list[Any]:
    if isinstance(outcome, BudgetExceeded):
        return [1, outcome.cls, outcome.used_bytes, outcome.budget_bytes, str(outcome)]
    if isinstance(outcome, BaseException):
        return [2, f"{type(outcome).__name__}: {outcome}"]
    return [0, [[r.identities, r.replayed, r.fingerprint] for r in outcome]]


def outcome_from_wire(wire: list[Any]) -> list[KeyedResult] | BaseException:
    if wire[0] == 0:
        return [
            KeyedResult([tuple(i) for i in ids], replayed, fp)  # type: ignore[misc]
            for ids, replayed, fp in wire[1]
        ]
    if wire[0] == 1:
        return BudgetExceeded(wire[4], cls=wire[1], used_bytes=wire[2], budget_bytes=wire[3])
    return CommitFailed(wire[1])


# ---------------------------------------------------------------------- the commit process
def serve(sock: socket.socket, committer: GroupCommitter) -> None:
    """Commit what arrives until the other side closes the socket."""
    buffer = bytearray()
    waiting: list[tuple[int, list[KeyedAppend]]] = []
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
                waiting.extend((job_id, groups_from_wire(g)) for job_id, g in body)
            elif kind == "settings":
                committer.max_commit_records = body["max_commit_records"]
                committer.key_retention_s = body["key_retention_s"]
                committer.max_keys = body["max_keys"]
        if not waiting:
            continue
        take, records = 0, 0
        while take < len(waiting) and (take == 0 or records < committer.max_commit_records):
            records += sum(len(g.records) for g in waiting[take][1])
            take += 1
        batch, waiting = waiting[:take], waiting[take:]
        outcomes = committer.commit([groups for _, groups in batch])
        done = [[job_id, outcome_to_wire(o)] for (job_id, _), o in zip(batch, outcomes,
                                                                        strict=True)]
        sock.sendall(frame(["done", done, asdict(committer.stats)]))


def main() -> int:
    from components.core.clock import SystemClock
    from components.core.config import Spec
    from components.core.log_config import open_log

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    # A stop signal to the process group is the HTTP process's to handle: it finishes the
    # requests in flight, then closes the socket, and that is when this process ends.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=int(os.environ[FD_ENV]))
    given = json.loads(os.environ[CONFIG_ENV])
    # Only the log's keys (checked as the HTTP process checked them); the group-commit
    # settings follow in a "settings" frame. Nothing else is imported here: a small process.
    cfg = Spec(*LOG_KEYS).parse(given)
    lg = open_log(cfg, os.environ[THING_ENV], SystemClock())
    committer = GroupCommitter(lg)
    try:
        serve(sock, committer)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the HTTP process is gone: nobody is waiting for an answer
    finally:
        lg.close()
    return 0


# ---------------------------------------------------------------------- the HTTP side
class CommitProcess:
    """What the HTTP process talks to: `submit` resolves once the records are committed."""

    def __init__(self, config: dict[str, Any], thing: str) -> None:
        self._config = config
        self._thing = thing
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[list[KeyedResult]]] = {}
        self._outgoing: list[list[Any]] = []
        self._unsent = bytearray()
        self._incoming = bytearray()
        self._ready: asyncio.Future[int] | None = None
        self._settings: dict[str, Any] | None = None
        self.stats = WriterStats()
        self.died: asyncio.Event | None = None

    async def start(self) -> None:
        """Start the commit process and wait until its log is open."""
        self._loop = asyncio.get_running_loop()
        self.died = asyncio.Event()
        ours, theirs = socket.socketpair()
        # The log's keys only: tokens and schemas are none of its business.
        log_config = {k: self._config[k] for k in LOG_KEY_NAMES if k in self._config}
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

    def configure(self, *, max_commit_records: int, key_retention_s: float, max_keys: int) -> None:
        """Group-commit settings; kept, and sent now or as soon as the process starts."""
        self._settings = {"max_commit_records": max_commit_records,
                          "key_retention_s": key_retention_s, "max_keys": max_keys}
        self._send(["settings", self._settings])

    def queue_depth(self) -> int:
        return len(self._waiting)

    async def submit(self, groups: list[KeyedAppend]) -> list[KeyedResult]:
        """Results per group, once durably committed. Raises BudgetExceeded (nothing of this
        request written) or CommitFailed."""
        if self.died is None or self.died.is_set():
            raise CommitFailed("the commit process is not running")
        assert self._loop is not None
        job_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[list[KeyedResult]] = self._loop.create_future()
        self._waiting[job_id] = future
        # One frame per loop pass carries every job of that pass: one write, one read, and
        # the commit process gets a group to commit (sending each job at once was measured:
        # 2.5x the commit process's CPU, smaller groups and a worse tail).
        if not self._outgoing:
            self._loop.call_soon(self._flush_jobs)
        self._outgoing.append([job_id, groups_to_wire(groups)])
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
                for job_id, wire in message[1]:
                    future = self._waiting.pop(job_id)
                    if future.done():  # the client went away; its records are committed
                        continue
                    outcome = outcome_from_wire(wire)
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                self.stats = WriterStats(**message[2])

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
