"""What to publish, in which order, and what each publish acknowledges. Pure.

Alerts travel one per message as plain JSON (the cloud rules filter on their fields); other
classes travel as uplink batches (components/core/batch.py) on their class's topic, one device
per batch (HTTP ingest brings records of LAN devices through the gateway). Messages come out in
the log's priority order and in log order within a class, so acknowledging each message after
it is accepted never skips a record. A record too large for any message is handed back as
`oversize` for quarantine instead of blocking the queue forever.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from components.core import batch, topics
from components.core.envelope import Record


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    cls: str
    ack_pos: int  # acknowledging this message moves the class's offset here
    records: int
    oversize: Record | None = None  # set when `payload` is empty: quarantine, then ack


def _runs(records: Sequence[Record]) -> Iterator[tuple[int, int]]:
    """[i, j) ranges of consecutive records with the same class and device."""
    i = 0
    while i < len(records):
        key = (records[i].cls, records[i].device)
        j = i + 1
        while j < len(records) and (records[j].cls, records[j].device) == key:
            j += 1
        yield i, j
        i = j


def _alert(record: Record) -> bytes:
    return json.dumps(record.to_dict(), separators=(",", ":")).encode()


def plan(
    records: Sequence[Record],
    positions: Sequence[int],
    *,
    site: str,
    thing: str,
    max_bytes: int,
) -> list[Message]:
    out: list[Message] = []
    for i, j in _runs(records):
        cls = records[i].cls
        topic = topics.device_topic(site, thing, topics.KIND_FOR_CLASS[cls])
        if cls == "alert":
            for k in range(i, j):
                body = _alert(records[k])
                if len(body) > max_bytes:
                    out.append(Message(topic, b"", cls, positions[k], 1, oversize=records[k]))
                else:
                    out.append(Message(topic, body, cls, positions[k], 1))
            continue
        out.extend(_batches(records, positions, i, j, topic, site, max_bytes))
    return out


def _batches(
    records: Sequence[Record],
    positions: Sequence[int],
    i: int,
    j: int,
    topic: str,
    site: str,
    max_bytes: int,
) -> Iterator[Message]:
    cls = records[i].cls
    start = i
    while start < j:
        try:
            parts = batch.pack(records[start:j], site=site, max_bytes=max_bytes)
        except batch.BatchError as exc:
            # One record cannot fit: send what precedes it, hand it back, continue after it.
            bad = exc.evidence
            k = next(k for k in range(start, j) if records[k] is bad)
            if k > start:
                yield from _batches(records, positions, start, k, topic, site, max_bytes)
            yield Message(topic, b"", cls, positions[k], 1, oversize=records[k])
            start = k + 1
            continue
        for data, n in parts:
            yield Message(topic, data, cls, positions[start + n - 1], n)
            start += n
