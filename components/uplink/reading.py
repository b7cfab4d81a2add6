"""Reading the log in chunks whose size in memory is bounded, not their count. Pure over `Log`.

A decoded record costs about RECORD_BYTES plus FIELD_BYTES per payload field in memory
(measured with tracemalloc on raw sensor records: 5,000 records of 1 to 9 fields held 2.5 MiB,
and packing them into a batch doubled that for a moment). A sender that reads thousands of
records at a time therefore holds megabytes that a read sized by bytes does not: the uplink
reads in small chunks until the estimate reaches its budget.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.core.log import Log, ReadBatch

RECORD_BYTES = 200  # the Record, its payload dict and the row's share of the decoding
FIELD_BYTES = 80  # one payload value (a float or short string) and its dict slot
CHUNK_RECORDS = 250  # records per query: the bound is overshot by at most one chunk


def approx_bytes(batch: ReadBatch) -> int:
    """Estimated memory held by the decoded records of `batch`."""
    return RECORD_BYTES * len(batch) + FIELD_BYTES * sum(len(r.payload) for r in batch)


def read_bounded(
    lg: Log,
    consumer: str,
    classes: Iterable[str],
    *,
    max_records: int,
    max_bytes: int,
) -> ReadBatch:
    """The records `lg.read(consumer, max_records, classes)` would return, cut off once their
    estimated memory reaches `max_bytes` (at least one chunk is read). Same order, same
    positions: the chunks continue one another through `after`."""
    classes = tuple(classes)
    out = ReadBatch()
    after: dict[str, int] = {}
    held = 0
    while len(out) < max_records and held < max_bytes:
        want = min(CHUNK_RECORDS, max_records - len(out))
        chunk = lg.read(consumer, limit=want, classes=classes, after=after)
        out.extend(chunk)
        out.positions.extend(chunk.positions)
        after.update(chunk.cursor())  # positions grow within a class
        held += approx_bytes(chunk)
        if len(chunk) < want:  # nothing more for this consumer now
            break
    return out
