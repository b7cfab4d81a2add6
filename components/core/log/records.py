"""What goes into the log and what comes out: records to append, keyed groups, read batches."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from components.core.envelope import Identity, Record


class NewRecord(NamedTuple):
    """A record to append; identity and (unless given) timestamps are assigned by the log.
    (A named tuple: high-rate producers create hundreds of thousands of these.)"""

    stream: str
    cls: str
    payload: Mapping[str, Any]
    device: str | None = None
    mono_ns: int | None = None
    wall_ms: int | None = None


class Run(NamedTuple):
    """Consecutive records of one stream with the same timestamps (None: now)."""

    device: str
    stream: str
    cls: str
    payloads: list[Any]
    mono_ns: int | None
    wall_ms: int | None


def runs_of(records: Iterable[NewRecord], default_device: str) -> list[Run]:
    runs: list[Run] = []
    last: tuple[Any, ...] | None = None
    payloads: list[Any] = []
    for r in records:
        key = (r.device or default_device, r.stream, r.cls, r.mono_ns, r.wall_ms)
        if key != last:
            payloads = []
            runs.append(Run(key[0], key[1], key[2], payloads, key[3], key[4]))
            last = key
        payloads.append(r.payload)
    return runs


@dataclass(frozen=True, slots=True)
class KeyedAppend:
    """Records written at most once per `key`: a later append with the same key writes
    nothing and gets the identities the first one got. `key=None` appends unconditionally.
    `fingerprint` (e.g. a digest of the request) is stored with the key so a caller can tell
    a true retry from a reused key."""

    key: str | None
    records: Sequence[NewRecord]
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class KeyedResult:
    identities: list[Identity]
    replayed: bool  # the key was known: nothing was written, these are the earlier identities
    fingerprint: str  # the fingerprint stored with the key


_CLS_OF = operator.attrgetter("cls")


class ReadBatch(list[Record]):
    """Records handed to a consumer, with the log positions needed to acknowledge them."""

    def __init__(self, records: Iterable[Record] = (), positions: Iterable[int] = ()) -> None:
        super().__init__(records)
        self.positions: list[int] = list(positions)

    def cursor(self) -> dict[str, int]:
        """Highest position per class in this batch."""
        if len(self.positions) != len(self):
            raise ValueError(f"{len(self)} records but {len(self.positions)} positions")
        classes = set(map(_CLS_OF, self))
        if len(classes) == 1:  # the usual batch: one class, no loop in Python
            return {classes.pop(): max(self.positions)}
        out: dict[str, int] = {}
        for rec, pos in zip(self, self.positions, strict=True):
            if pos > out.get(rec.cls, 0):
                out[rec.cls] = pos
        return out
