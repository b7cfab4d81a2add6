"""RFID readers on real pseudo-terminals: the component opens the slave path exactly as it
would open /dev/serial0, and this side writes frames at the reader's pace.

An RDM6300 repeats a tag's frame while it is in the field; an ID-12LA sends one frame per
presentation (its "tag in range" pin, not the UART, says when the tag leaves); M100-family UHF
readers answer the host's poll commands with one notification per tag in the field.
Noise and corrupted frames are injected on demand.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from components.lib.frames import id12, rdm6300, uhf_m100
from components.lib.frames.uhf_m100 import UhfM100Decoder
from edge_sim.world.tags import TagPass

PROTOCOLS = ("rdm6300", "id12", "uhf_m100")


@dataclass
class _Tag:
    tag_id: str
    until: float | None  # monotonic seconds; None = until removed
    rssi_dbm: int = -55


class PtyReader:
    def __init__(
        self,
        protocol: str = "rdm6300",
        *,
        repeat_s: float = 0.1,
        seed: int = 0,
        variant: uhf_m100.Variant = uhf_m100.M100,
        pace_bytes: bool = True,
        once_per_presentation: bool | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r} not in {PROTOCOLS}")
        self.protocol = protocol
        self.repeat_s = repeat_s
        self.variant = variant
        self.baud = uhf_m100.BAUD if protocol == "uhf_m100" else rdm6300.BAUD
        self.pace_bytes = pace_bytes
        self.once = protocol == "id12" if once_per_presentation is None else once_per_presentation
        self._announced: set[str] = set()
        self._rng = random.Random(seed)
        self._tags: dict[str, _Tag] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # frames from the thread and inject() never interleave
        self._corrupt_next = 0
        self._noise_per_frame = 0.0
        self.frames_sent = 0
        self.frames_corrupted = 0
        self.polls_answered = 0
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no newline translation on the component's side
        tty.setraw(self.master)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pty-{protocol}", daemon=True)
        self._commands = UhfM100Decoder(variant)
        self._schedule: Iterator[TagPass] = iter(())
        self._next_pass: TagPass | None = None  # the next to start
        self._playing: list[TagPass] = []  # started, maybe ended
        self._schedule_t0 = 0.0

    # -- the scenario's handle --------------------------------------------------------------
    def present(self, tag_id: str, duration_s: float | None = None, rssi_dbm: int = -55) -> None:
        until = None if duration_s is None else time.monotonic() + duration_s
        with self._lock:
            self._tags[tag_id] = _Tag(tag_id, until, rssi_dbm)

    def play(self, passes: Iterable[TagPass]) -> None:
        """Follow a world schedule of tag passes, with time zero now: a list in any order, or
        an iterator in order of start (it may be endless)."""
        if isinstance(passes, Sequence):
            passes = sorted(passes, key=lambda p: p.start_s)
        with self._lock:
            self._schedule = iter(passes)
            self._next_pass = next(self._schedule, None)
            self._playing = []
            self._schedule_t0 = time.monotonic()

    def remove(self, tag_id: str) -> None:
        with self._lock:
            self._tags.pop(tag_id, None)

    def corrupt_next(self, frames: int = 1) -> None:
        with self._lock:
            self._corrupt_next += frames

    def set_noise(self, bytes_per_frame: float) -> None:
        """Random garbage bytes between frames, on average this many per frame."""
        self._noise_per_frame = bytes_per_frame

    def inject(self, data: bytes) -> None:
        self._write(data)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PtyReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                continue

    def __enter__(self) -> PtyReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- wire --------------------------------------------------------------------------------
    def _encode(self, tag: _Tag) -> bytes:
        if self.protocol == "rdm6300":
            return rdm6300.encode(tag.tag_id)
        if self.protocol == "id12":
            return id12.encode(tag.tag_id)
        return uhf_m100.tag_notice(
            bytes.fromhex(tag.tag_id),
            tag.rssi_dbm & 0xFF,
            pc=(len(tag.tag_id) // 4) << 11,
            variant=self.variant,
        )

    def _frame(self, tag: _Tag) -> bytes:
        frame = bytearray(self._encode(tag))
        with self._lock:
            corrupt = self._corrupt_next > 0
            self._corrupt_next -= int(corrupt)
        if corrupt:
            i = self._rng.randrange(1, len(frame) - 2)
            frame[i] = ord("0") if frame[i] != ord("0") else ord("1")  # still looks plausible
            self.frames_corrupted += 1
        noise = b""
        if self._noise_per_frame:
            n = int(self._rng.expovariate(1 / self._noise_per_frame))
            noise = bytes(self._rng.randrange(256) for _ in range(n))
        self.frames_sent += 1
        return noise + bytes(frame)

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            if not self.pace_bytes:
                os.write(self.master, data)
                return
            # Two writes with the line time in between: readers see partial frames, as on a UART.
            half = len(data) // 2
            for part in (data[:half], data[half:]):
                if part:
                    os.write(self.master, part)
                    time.sleep(len(part) * 10 / self.baud)

    def _in_field(self) -> list[_Tag]:
        now = time.monotonic()
        with self._lock:
            for tag_id in [
                t for t, tag in self._tags.items() if tag.until is not None and now >= tag.until
            ]:
                del self._tags[tag_id]
            tags = dict(self._tags)
            t_s = now - self._schedule_t0
            # Only the passes that have started and not ended: a schedule can be hours long.
            while self._next_pass is not None and self._next_pass.start_s <= t_s:
                self._playing.append(self._next_pass)
                self._next_pass = next(self._schedule, None)
            self._playing = [p for p in self._playing if p.active(t_s)]
            for p in self._playing:
                if p.tag_id not in tags:
                    tags[p.tag_id] = _Tag(p.tag_id, None, p.rssi_dbm)
            return list(tags.values())

    def _answer(self, data: bytes) -> None:
        for frame in self._commands.feed_frames(data):
            if frame.frame_type != uhf_m100.TYPE_COMMAND:
                continue
            if frame.command == uhf_m100.CMD_SINGLE_POLL:
                tags = self._in_field()
                out = b"".join(self._frame(t) for t in tags)
                self._write(out or uhf_m100.error_response(uhf_m100.ERR_NO_TAG, self.variant))
                self.polls_answered += 1

    def _run(self) -> None:
        next_frame = time.monotonic()
        # poll, not select: a fleet runner holds thousands of descriptors, and select() cannot
        # watch one numbered 1024 or above.
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        while not self._stop.is_set():
            timeout = max(0.0, next_frame - time.monotonic())
            try:
                ready = poller.poll(min(timeout, 0.05) * 1000)
                if ready:
                    self._answer(os.read(self.master, 4096))
                if self.protocol != "uhf_m100" and time.monotonic() >= next_frame:
                    in_field = self._in_field()
                    for tag in in_field:
                        if not (self.once and tag.tag_id in self._announced):
                            self._write(self._frame(tag))
                    self._announced = {t.tag_id for t in in_field}
                    next_frame = time.monotonic() + self.repeat_s
            except OSError:  # the fds were closed by stop()
                if self._stop.is_set():
                    return
                raise
