"""Presence per reader: a tag in the field repeats frames; emit `arrive` once and `depart` after
it has been silent for the debounce time. Pure: times are passed in, nothing is read from a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    kind: str  # "arrive" | "depart"
    tag_id: str
    mono_ns: int
    reads: int  # frames seen during the presence (1 for an arrive)
    dwell_s: float  # 0 for an arrive


class PresenceTracker:
    def __init__(self, depart_after_s: float = 1.0, arrive_after_reads: int = 1) -> None:
        if depart_after_s <= 0 or arrive_after_reads < 1:
            raise ValueError("depart_after_s must be > 0 and arrive_after_reads >= 1")
        self.depart_after_ns = int(depart_after_s * 1e9)
        self.arrive_after_reads = arrive_after_reads
        # tag -> [first_seen_ns, last_seen_ns, reads, arrived]
        self._tags: dict[str, list[int]] = {}
        # Tags seen fewer than arrive_after_reads times before going silent (a glancing read).
        self.unconfirmed = 0

    @property
    def present(self) -> frozenset[str]:
        return frozenset(t for t, s in self._tags.items() if s[3])

    def observe(self, tag_id: str, mono_ns: int) -> list[PresenceEvent]:
        events = self.tick(mono_ns)
        state = self._tags.get(tag_id)
        if state is None:
            state = self._tags[tag_id] = [mono_ns, mono_ns, 0, 0]
        state[1] = mono_ns
        state[2] += 1
        if not state[3] and state[2] >= self.arrive_after_reads:
            state[3] = 1
            events.append(PresenceEvent("arrive", tag_id, mono_ns, state[2], 0.0))
        return events

    def next_departure_ns(self) -> int | None:
        """When `tick` will next have something to say (None: no tag in the field)."""
        if not self._tags:
            return None
        return min(s[1] for s in self._tags.values()) + self.depart_after_ns + 1

    def tick(self, mono_ns: int) -> list[PresenceEvent]:
        """Departures of tags silent for longer than the debounce time."""
        events: list[PresenceEvent] = []
        for tag_id, (first, last, reads, arrived) in list(self._tags.items()):
            if mono_ns - last > self.depart_after_ns:
                del self._tags[tag_id]
                if arrived:
                    dwell = (last - first) / 1e9
                    events.append(PresenceEvent("depart", tag_id, last, reads, dwell))
                else:
                    self.unconfirmed += 1
        return events
