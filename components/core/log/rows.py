"""The durable log's rows, built and decoded a whole batch at a time (pure, no I/O).

A batch of readings is encoded to one JSON array in one call of the C encoder, and SQLite
splits it into rows itself (`json_each`), so an append costs no Python work per record beyond
what it takes to pick each payload's body. Reading does the reverse: one `json.loads` for the
bodies of a batch, and `Record`s filled column by column with C-level loops.

A body is a payload's values as a bare JSON array when its keys are the stream's field list
(in order), else the payload as a JSON object; both decode back to the same mapping.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat, starmap
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from components.core.envelope import EnvelopeError, Record


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_PY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# The C encoder called directly (the json module's wrapper costs more than a small reading):
# compact, no NaN or infinity, non-ASCII kept as is. Same output as _PY_ENCODER.
_C_ENCODE = (
    None
    if c_make_encoder is None
    else c_make_encoder(None, _no_default, encode_basestring, None, ":", ",", False, False, False)
)


def encode_json(o: Any) -> str:
    """Compact JSON text of `o`, no NaN or infinity (TypeError/ValueError otherwise)."""
    if _C_ENCODE is None or isinstance(o, str):
        return _PY_ENCODER.encode(o)
    return "".join(_C_ENCODE(o, 0))


def body_item(fields: tuple[str, ...] | None, payload: Any) -> Any:
    """What one payload is stored as: its values (a list) when its keys are `fields` in
    order, else the payload itself as a dict. EnvelopeError for a payload that is no mapping."""
    if not isinstance(payload, Mapping):
        raise EnvelopeError("payload is not an object", evidence=payload)
    if fields is not None and tuple(payload) == fields:
        return list(payload.values())
    return payload if type(payload) is dict else dict(payload)


def body_items(fields: tuple[str, ...] | None, payloads: Sequence[Any]) -> list[Any]:
    """`body_item` of each payload."""
    if fields is not None and set(map(type, payloads)) == {dict}:
        # The usual batch: plain dicts of one shape, checked and converted in C-level loops.
        if all(map(fields.__eq__, map(tuple, payloads))):
            return list(map(list, map(dict.values, payloads)))
    return [body_item(fields, p) for p in payloads]


def encode_items(items: list[Any], payloads: Sequence[Any]) -> str:
    """One JSON array holding every item; EnvelopeError naming the payload (same index in
    `payloads`) that cannot be stored as JSON."""
    try:
        return encode_json(items)
    except (TypeError, ValueError, RecursionError):
        pass
    for item, payload in zip(items, payloads, strict=True):  # find the culprit
        try:
            encode_json(item)
        except (TypeError, ValueError, RecursionError) as exc:
            raise EnvelopeError(
                f"payload is not JSON-serialisable: {exc}", evidence=payload
            ) from None
    raise AssertionError("a batch failed to encode but none of its payloads does")


def decode_bodies(bodies: Sequence[str]) -> list[Any]:
    """The stored bodies of a batch, parsed in one call (per-call overhead, not parsing,
    dominates small bodies)."""
    return json.loads("[" + ",".join(bodies) + "]")


def payloads_of(fields: tuple[str, ...] | None, values: list[Any]) -> list[dict[str, Any]]:
    """Payload mappings from decoded bodies of one stream (see `body_items`)."""
    if fields is not None and set(map(type, values)) == {list}:
        if set(map(len, values)) == {len(fields)}:
            return list(map(dict, map(zip, repeat(fields), values)))
    out = []
    for v in values:
        if type(v) is list:
            v = dict(zip(fields or (), v, strict=True))
        out.append(v)
    return out


_FIELD_ORDER = tuple(f.name for f in dataclasses.fields(Record))
_FIELD_NAMES = frozenset(_FIELD_ORDER)


def in_position_order(columns: list[list[Any]]) -> list[list[Any]]:
    """Columns of the same rows (the first holds their positions), ordered by position.

    SQLite aggregates the rows of a read in the order its sub-query yields them (by position),
    but does not promise that order; a batch that arrives otherwise is sorted, never misread."""
    positions = columns[0]
    if positions == sorted(positions):  # positions are unique: sorted means in order
        return columns
    order = sorted(range(len(positions)), key=positions.__getitem__)
    return [[column[i] for i in order] for column in columns]


def _slot_setters() -> tuple[Callable[[Record, Any], None], ...] | None:
    """The slot setters of Record's fields, in field order (None if Record has no slots)."""
    setters = []
    for name in _FIELD_ORDER:
        slot = Record.__dict__.get(name)
        if not isinstance(slot, types.MemberDescriptorType):
            return None
        setters.append(slot.__set__)
    return tuple(setters)


_SETTERS = _slot_setters()


def make_records(n: int, **columns: Iterable[Any]) -> list[Record]:
    """`n` Records from one iterable per field (by field name), each yielding `n` values.

    Equal to `map(Record, ...)`. A frozen dataclass's __init__ sets each field through
    object.__setattr__, which made building Records most of the cost of a read; this fills
    the slots directly, one C-level pass per field."""
    if columns.keys() != _FIELD_NAMES:
        raise TypeError(f"make_records takes exactly the fields {_FIELD_ORDER}")
    if _SETTERS is None:
        return list(map(Record, *(columns[name] for name in _FIELD_ORDER)))
    recs: list[Record] = list(map(object.__new__, repeat(Record, n)))
    for name, setter in zip(_FIELD_ORDER, _SETTERS, strict=True):
        # any() drives the setters to the end (each returns None); a column of the wrong
        # length raises instead of leaving slots unset.
        any(starmap(setter, zip(recs, columns[name], strict=True)))
    return recs
