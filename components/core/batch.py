"""The uplink batch wire format (version 1): the one definition both sides use.

The device packs records into batches for IoT Core (aggregates, events, health, raw when no
Kinesis) and Kinesis (raw readings); the cloud (the local lake, the Firehose transform) decodes
them with `decode`. Every record keeps its identity (device, stream, seq).

Wire layout::

    b"FLB" | version u8 (1) | codec u8 (0 = none, 1 = zlib/deflate) | body

The body is compact UTF-8 JSON::

    {"sv": <envelope schema>, "d": <device>, "site": <site>, "g": [<group>, ...]}

A group holds consecutive records of one stream with one payload key set, columnar::

    {"s": stream, "c": class, "q": first seq, "n": count,
     "dq": [seq deltas]      only if the seqs are not consecutive (eviction gaps),
     "w": [wall_ms, deltas...],
     "y": true | [bools]     clock_synced (one value when all agree),
     "m": [mono_ns, deltas...]   only when some record was written before the clock synced,
     "x": [wall_corrected_ms or null]   likewise,
     "k": [field names], "v": [<column>, ...]}

A column is {"i": [first, deltas...]} (integers), {"e": places, "i": [...]} (decimal numbers
scaled by 10**places, then delta-coded: sensor values with fixed resolution shrink to a byte or
two each after compression), or {"j": [values...]} (anything else, as JSON).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, repeat
from typing import Any, Final

from components.core.envelope import (
    SUPPORTED_VERSIONS,
    EnvelopeError,
    Record,
    UnknownSchemaVersion,
    validate_class,
    validate_device,
    validate_stream,
)

MAGIC: Final = b"FLB"
VERSION: Final = 1
CODEC_NONE: Final = 0
CODEC_ZLIB: Final = 1
HEADER_BYTES: Final = len(MAGIC) + 2
# A decoder never inflates more than this from one batch (a compressed bomb is rejected).
MAX_DECODED_BYTES: Final = 32 * 1024 * 1024
_MAX_PLACES = 6
_INT_TYPE: Final = frozenset({int})
_BOOL_TYPE: Final = frozenset({bool})
_OPTIONAL_INT_TYPES: Final = frozenset({int, type(None)})

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class BatchError(ValueError):
    """Bytes that are not a valid floorline batch; `.evidence` says where it went wrong."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


# ---------------------------------------------------------------- encoding
def _deltas(values: Sequence[int]) -> list[int]:
    return [values[0], *(b - a for a, b in zip(values, values[1:], strict=False))]


def _undeltas(values: Sequence[int]) -> list[int]:
    return list(accumulate(values))


def _places(x: float) -> int | None:
    """Decimal places of a float's shortest repr, if it round-trips through scaling."""
    r = repr(x)
    if "e" in r or "n" in r:  # exponent form, nan, inf
        return None
    places = len(r) - r.index(".") - 1 if "." in r else 0
    if places > _MAX_PLACES:
        return None
    return places


def _encode_column(values: list[Any]) -> dict[str, Any]:
    if values and all(type(v) is int for v in values):
        return {"i": _deltas(values)}
    if values and all(type(v) is float for v in values):
        places = 0
        for v in values:
            p = _places(v)
            if p is None:
                return {"j": values}
            places = max(places, p)
        scale = 10**places
        scaled = [round(v * scale) for v in values]
        if all(s / scale == v for s, v in zip(scaled, values, strict=True)):
            return {"e": places, "i": _deltas(scaled)}
    return {"j": values}


def _group(records: Sequence[Record]) -> dict[str, Any]:
    first = records[0]
    seqs = [r.seq for r in records]
    g: dict[str, Any] = {"s": first.stream, "c": first.cls, "q": seqs[0], "n": len(records)}
    consecutive = all(b == a + 1 for a, b in zip(seqs, seqs[1:], strict=False))
    if not consecutive:
        g["dq"] = _deltas(seqs)[1:]
    g["w"] = _deltas([r.wall_ms for r in records])
    synced = [r.clock_synced for r in records]
    g["y"] = synced[0] if len(set(synced)) == 1 else synced
    if not all(synced):
        g["m"] = _deltas([r.mono_ns for r in records])
        g["x"] = [r.wall_corrected_ms for r in records]
    keys = list(first.payload)
    g["k"] = keys
    g["v"] = [_encode_column([r.payload[k] for r in records]) for k in keys]
    return g


def _groups(records: Iterable[Record]) -> Iterator[list[Record]]:
    run: list[Record] = []
    sig: tuple[Any, ...] | None = None
    for r in records:
        s = (r.stream, r.cls, tuple(r.payload))
        if run and s != sig:
            yield run
            run = []
        run.append(r)
        sig = s
    if run:
        yield run


def encode(records: Sequence[Record], *, site: str, codec: int = CODEC_ZLIB) -> bytes:
    """One batch holding `records` (all of one device), in the order given."""
    if not records:
        raise BatchError("a batch needs at least one record")
    device = records[0].device
    if any(r.device != device for r in records):
        raise BatchError("a batch holds the records of one device")
    body = _dumps(
        {
            "sv": records[0].schema,
            "d": device,
            "site": site,
            "g": [_group(run) for run in _groups(records)],
        }
    ).encode()
    if codec == CODEC_ZLIB:
        body = zlib.compress(body, 6)  # level 9 is 1.7x slower for 0.4 % smaller batches
    elif codec != CODEC_NONE:
        raise BatchError(f"unknown codec {codec}")
    return MAGIC + bytes((VERSION, codec)) + body


def pack(
    records: Sequence[Record], *, site: str, max_bytes: int, codec: int = CODEC_ZLIB
) -> list[tuple[bytes, int]]:
    """Split `records` into consecutive batches of at most `max_bytes` each.

    Returns (batch, number of records in it) pairs, in order. A single record that cannot fit
    raises BatchError (the caller quarantines it rather than looping on it)."""
    out: list[tuple[bytes, int]] = []
    todo: list[Sequence[Record]] = [records]
    while todo:
        part = todo.pop()
        data = encode(part, site=site, codec=codec)
        if len(data) <= max_bytes:
            out.append((data, len(part)))
        elif len(part) == 1:
            raise BatchError(f"one record encodes to {len(data)} bytes > {max_bytes}", part[0])
        else:
            mid = len(part) // 2
            todo.append(part[mid:])
            todo.append(part[:mid])
    return out


# ---------------------------------------------------------------- decoding
def _expect(cond: bool, message: str, evidence: Any = None) -> None:
    if not cond:
        raise BatchError(message, evidence)


def _int_list(v: Any, n: int, what: str) -> list[int]:
    # Checks spelled out rather than through _expect: a message is formatted only on failure.
    if not (isinstance(v, list) and len(v) == n):
        raise BatchError(f"{what}: expected {n} values")
    if not set(map(type, v)) <= _INT_TYPE:
        raise BatchError(f"{what}: expected integers")
    return v


def _decode_column(col: Any, n: int, key: str) -> list[Any]:
    if not isinstance(col, dict):
        raise BatchError(f"column {key!r} is not an object")
    if "j" in col:
        values = col["j"]
        if not (isinstance(values, list) and len(values) == n):
            raise BatchError(f"column {key!r}: bad length")
        return list(values)
    ints: list[int] = col.get("i")  # type: ignore[assignment]  # checked just below
    if not (isinstance(ints, list) and len(ints) == n and set(map(type, ints)) <= _INT_TYPE):
        _int_list(ints, n, f"column {key!r}")  # raises, with the reason
    if n > 1:
        ints = _undeltas(ints)
    if "e" in col:
        places = col["e"]
        if not (type(places) is int and 0 <= places <= _MAX_PLACES):
            raise BatchError(f"column {key!r}: bad scale")
        scale = 10**places
        return [i / scale for i in ints]
    return list(ints)


def _body(data: bytes) -> Any:
    _expect(isinstance(data, bytes | bytearray | memoryview), "batch is not bytes")
    data = bytes(data)
    _expect(len(data) >= HEADER_BYTES and data[:3] == MAGIC, "not a floorline batch (magic)")
    version, codec = data[3], data[4]
    _expect(version == VERSION, f"unsupported batch version {version}", version)
    raw = data[HEADER_BYTES:]
    if codec == CODEC_ZLIB:
        d = zlib.decompressobj()
        try:
            raw = d.decompress(raw, MAX_DECODED_BYTES)
        except zlib.error as exc:
            raise BatchError(f"corrupt compressed body: {exc}") from None
        _expect(not d.unconsumed_tail, f"batch inflates beyond {MAX_DECODED_BYTES} bytes")
        _expect(d.eof, "truncated compressed body")
    else:
        _expect(codec == CODEC_NONE, f"unknown codec {codec}", codec)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BatchError(f"body is not JSON: {exc}") from None


def decode(data: bytes) -> tuple[str, list[Record]]:
    """(site, records) of a batch. Raises BatchError for anything malformed, and
    UnknownSchemaVersion for records of an envelope version this code does not know."""
    doc = _body(data)
    _expect(isinstance(doc, dict), "body is not an object")
    sv = doc.get("sv")
    if not isinstance(sv, int) or sv not in SUPPORTED_VERSIONS:  # a list is unhashable
        raise UnknownSchemaVersion(f"envelope schema {sv!r} is not supported", evidence=sv)
    device, site, groups = doc.get("d"), doc.get("site"), doc.get("g")
    _expect(isinstance(site, str), "site is missing")
    _expect(isinstance(groups, list), "groups are missing")
    out: list[Record] = []
    device_checked = False
    for g in groups:
        _expect(isinstance(g, dict), "group is not an object")
        n = g.get("n")
        _expect(type(n) is int and 0 < n <= 10_000_000, "group count is bad", n)
        q = g.get("q")
        _expect(type(q) is int, "group first seq is bad", q)
        if "dq" in g:
            seqs = _undeltas([q, *_int_list(g["dq"], n - 1, "dq")])
        else:
            seqs = list(range(q, q + n))
        walls = _undeltas(_int_list(g.get("w"), n, "w"))
        y = g.get("y")
        synced = [y] * n if isinstance(y, bool) else y
        _expect(isinstance(synced, list) and len(synced) == n, "clock flags are bad")
        monos = _undeltas(_int_list(g["m"], n, "m")) if "m" in g else [0] * n
        corrected = g.get("x", [None] * n)
        _expect(isinstance(corrected, list) and len(corrected) == n, "corrected walls are bad")
        keys = g.get("k")
        cols = g.get("v")
        _expect(
            isinstance(keys, list) and isinstance(cols, list) and len(keys) == len(cols),
            "columns are bad",
        )
        _expect(all(isinstance(k, str) for k in keys), "field names are not strings")
        values = [_decode_column(c, n, k) for k, c in zip(keys, cols, strict=True)]
        # The envelope's checks, once per group: device, stream and class are shared by its
        # records, and the per-record fields are checked as whole columns.
        stream, cls = g.get("s"), g.get("c")
        try:
            if not device_checked:
                validate_device(device)  # type: ignore[arg-type]
                device_checked = True
            validate_stream(stream)  # type: ignore[arg-type]
            validate_class(cls)  # type: ignore[arg-type]
        except EnvelopeError as exc:
            raise BatchError(f"group of stream {stream!r}: {exc}") from None
        if min(seqs) < 1:
            raise BatchError(f"stream {stream!r}: seq must be >= 1")
        if not set(map(type, synced)) <= _BOOL_TYPE:
            raise BatchError(f"stream {stream!r}: clock flags are bad")
        if not set(map(type, corrected)) <= _OPTIONAL_INT_TYPES:
            raise BatchError(f"stream {stream!r}: wall_corrected_ms is not an integer")
        payloads = (
            [dict(zip(keys, row, strict=True)) for row in zip(*values, strict=True)]
            if keys
            else [{} for _ in range(n)]
        )
        out.extend(
            map(
                Record,
                repeat(device, n),
                repeat(stream, n),
                seqs,
                repeat(cls, n),
                monos,
                walls,
                synced,
                payloads,
                repeat(sv, n),
                corrected,
            )  # fmt: skip
        )
    return site, out


def is_batch(data: bytes) -> bool:
    return data[:3] == MAGIC
