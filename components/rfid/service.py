"""The rfid loop: read each port, decode frames, track presence, commit arrive/depart events
to the log; log reader counters and port faults as health records."""

from __future__ import annotations

import logging
import select
from collections.abc import Callable
from typing import Any

from components.core.clock import Clock
from components.core.component_state import RecordSink
from components.core.live import LivePublisher
from components.core.log import BudgetExceeded, NewRecord
from components.lib.frames import uhf_m100
from components.lib.frames.id12 import Id12Decoder
from components.lib.frames.models import MODELS, VARIANTS
from components.lib.frames.rdm6300 import Rdm6300Decoder
from components.lib.frames.uhf_m100 import UhfM100Decoder
from components.rfid.config import Reader, RfidSettings
from components.rfid.presence import PresenceEvent, PresenceTracker

log = logging.getLogger("floorline.rfid")

POLL_S = 0.02  # how often a port that cannot be waited on is read

OpenPort = Callable[[str, int], Any]


class ReaderLoop:
    """One reader: its port, decoder and presence tracker."""

    def __init__(self, reader: Reader, cfg: RfidSettings, open_port: OpenPort) -> None:
        self.model = reader.model
        self.protocol = MODELS[self.model][0]
        self.port_url = reader.port
        self.baud = reader.baud_rate
        self.stream = reader.stream
        self.health_stream = f"health/{self.model}@{reader.name}"
        self.open_port = open_port
        self.variant = VARIANTS[reader.variant]
        if self.protocol == "rdm6300":
            self.decoder: Any = Rdm6300Decoder()
        elif self.protocol == "id12":
            self.decoder = Id12Decoder()
        else:
            self.decoder = UhfM100Decoder(self.variant)
        self.presence = PresenceTracker(cfg.departAfterSeconds, cfg.arriveAfterReads)
        self.identity = (self.stream, self.port_url, self.baud, self.variant)
        self.port: Any = None
        self.faulty = False
        self.next_open_ns = 0
        self.next_poll_ns = 0
        self.logged_counters: dict[str, Any] = {}

    def counters(self) -> dict[str, Any]:
        out = self.decoder.stats.as_dict()
        if isinstance(self.decoder, UhfM100Decoder):
            out["reader_errors"] = {f"0x{k:02x}": v for k, v in self.decoder.errors.items()}
        out["unconfirmed_tags"] = self.presence.unconfirmed
        return out


class RfidService:
    def __init__(
        self,
        cfg: RfidSettings,
        store: RecordSink,
        clock: Clock,
        open_port: OpenPort,
        live: LivePublisher | None = None,
        previous: RfidService | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.live = live
        self.readers = [ReaderLoop(r, cfg, open_port) for r in cfg.readers]
        if previous is not None:
            self._adopt(previous)
        self.poll_ns = int(cfg.pollIntervalSeconds * 1e9)
        self.stats_ns = int(cfg.healthIntervalSeconds * 1e9)
        self.reopen_ns = int(cfg.reopenIntervalSeconds * 1e9)
        self.next_stats_ns = clock.monotonic_ns() + self.stats_ns
        self.events = 0
        self.refused = 0

    def _adopt(self, previous: RfidService) -> None:
        """After a configuration update: a reader that is still configured the same way keeps
        its open port, partial frame and tags in the field (so every arrive still gets its
        depart); a reader that went away says goodbye to its tags."""
        old = {r.identity: r for r in previous.readers}
        for i, r in enumerate(self.readers):
            kept = old.pop(r.identity, None)
            if kept is not None:
                kept.presence.depart_after_ns = r.presence.depart_after_ns
                kept.presence.arrive_after_reads = r.presence.arrive_after_reads
                self.readers[i] = kept
        out = []
        for gone in old.values():
            far_future = self.clock.monotonic_ns() + gone.presence.depart_after_ns + 1
            out += [self._event(gone, ev) for ev in gone.presence.tick(far_future)]
            if gone.port is not None:
                gone.port.close()
        self._commit(out)

    def _commit(self, records: list[NewRecord]) -> None:
        if not records:
            return
        try:
            self.store.append_records(records)
        except BudgetExceeded as exc:
            self.refused += len(records)
            log.error("event=log_refused records=%d reason=%r", len(records), exc)

    def _health(self, r: ReaderLoop, event: str, **fields: Any) -> NewRecord:
        return NewRecord(
            r.health_stream,
            "health",
            {"event": event, "reader": r.stream, **fields},
            mono_ns=self.clock.monotonic_ns(),
            wall_ms=self.clock.wall_ms(),
        )

    def _event(self, r: ReaderLoop, ev: PresenceEvent) -> NewRecord:
        now_mono, now_wall = self.clock.monotonic_ns(), self.clock.wall_ms()
        payload = {
            "event": ev.kind,
            "tag_id": ev.tag_id,
            "reads": ev.reads,
            "dwell_s": round(ev.dwell_s, 3),
        }
        if self.live is not None:
            self.live.publish(r.stream, payload)
        log.info("event=%s reader=%s tag=%s", ev.kind, r.stream, ev.tag_id)
        return NewRecord(
            r.stream,
            "event",
            payload,
            mono_ns=ev.mono_ns,
            wall_ms=now_wall - (now_mono - ev.mono_ns) // 1_000_000,
        )

    def _ensure_open(self, r: ReaderLoop, now: int, out: list[NewRecord]) -> bool:
        if r.port is not None:
            return True
        if now < r.next_open_ns:
            return False
        try:
            r.port = r.open_port(r.port_url, r.baud)
        except (OSError, ValueError) as exc:  # SerialException is an OSError
            r.next_open_ns = now + self.reopen_ns
            if not r.faulty:
                r.faulty = True
                out.append(self._health(r, "reader_fault", port=r.port_url, detail=str(exc)))
            return False
        if r.faulty:
            r.faulty = False
            out.append(self._health(r, "reader_recovered", port=r.port_url))
        return True

    def cycle(self) -> None:
        out: list[NewRecord] = []
        for r in self.readers:
            now = self.clock.monotonic_ns()
            if not self._ensure_open(r, now, out):
                continue
            try:
                if r.protocol == "uhf_m100" and now >= r.next_poll_ns:
                    r.port.write(uhf_m100.single_poll_command(r.variant))
                    r.next_poll_ns = now + self.poll_ns
                data = r.port.read(max(1, r.port.in_waiting))
            except (OSError, ValueError) as exc:  # unplugged USB adapter, closed pty
                out.append(self._health(r, "reader_fault", port=r.port_url, detail=str(exc)))
                r.faulty = True
                r.port = None
                r.next_open_ns = now + self.reopen_ns
                continue
            now = self.clock.monotonic_ns()
            events = r.presence.tick(now)
            for read in r.decoder.feed(data):
                events += r.presence.observe(read.tag_id, now)
            out += [self._event(r, ev) for ev in events]
            self.events += len(events)
        if self.clock.monotonic_ns() >= self.next_stats_ns:
            self.next_stats_ns = self.clock.monotonic_ns() + self.stats_ns
            out += self.stats_records()
        self._commit(out)

    def wait(self, max_s: float) -> None:
        """Sleep until a port has bytes to read or something is due (a departure, a UHF poll,
        a port to reopen, the stats), `max_s` at most. A port that cannot be watched (a
        socket:// or loop:// URL) is read every POLL_S instead."""
        now = self.clock.monotonic_ns()
        due = [self.next_stats_ns]
        poller = select.poll()
        watched = True
        for r in self.readers:
            if r.port is None:
                # Its tags are ticked once it is open again: only the reopen is due.
                due.append(r.next_open_ns)
                continue
            departure = r.presence.next_departure_ns()
            if departure is not None:
                due.append(departure)
            if r.protocol == "uhf_m100":
                due.append(r.next_poll_ns)
            fd = _fileno(r.port)
            if fd is None:
                watched = False
            else:
                poller.register(fd, select.POLLIN)
        timeout_s = min(max_s, max(0.0, (min(due) - now) / 1e9))
        if not watched:
            timeout_s = min(timeout_s, POLL_S)
        # poll, not select: descriptors can be numbered past select()'s 1024 limit.
        poller.poll(timeout_s * 1000)

    def stats_records(self) -> list[NewRecord]:
        """Reader counters, only for readers whose counters changed since last logged."""
        out = []
        for r in self.readers:
            counters = r.counters()
            if counters != r.logged_counters:
                r.logged_counters = counters
                out.append(self._health(r, "reader_stats", **counters))
        return out

    def close(self, keep_ports: bool = False) -> None:
        self._commit(self.stats_records())
        if keep_ports:
            return
        for r in self.readers:
            if r.port is not None:
                r.port.close()


def _fileno(port: Any) -> int | None:
    try:
        return int(port.fileno())
    except (AttributeError, OSError, ValueError, TypeError):  # pyserial's url handlers, fakes
        return None
