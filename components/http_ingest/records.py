"""From request bytes to records for the log: pure functions, no sockets, no clock.

A body is one record object, a JSON array of them, or `{"records": [...]}`. A record is
`{"device": D, "type": T, "id": optional client message id, "data": {...}}`; it goes to the
log as class `event` on stream `<type>/http@<device>` with payload `{"id": ..., "data": ...}`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.core import strict_json
from components.core.envelope import EnvelopeError, validate_device, validate_stream
from components.core.log import KeyedAppend, NewRecord
from components.http_ingest.schemas import TYPE_RE, RecordSchema

RECORD_CLASS = "event"
RECORD_KEYS = frozenset({"device", "type", "id", "data"})
MAX_ID_CHARS = 128
# Deepest nesting of arrays and objects in a body. Deeper data decodes, but storing or
# fingerprinting it runs out of stack in the commit process: that was a 503 "retry" forever.
MAX_NESTING = 64
# The same encoder settings as the log: whatever passes here, the log can store.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class BodyError(ValueError):
    """The body as a whole cannot be read as records (400, nothing written)."""


def stream_name(rtype: str, device: str) -> str:
    """`<type>/http@<device>`: the kind is the record type, the source is HTTP, the place is
    the posting device."""
    return f"{rtype}/http@{device}"


def _nesting(doc: Any) -> int:
    """Deepest nesting of lists and objects in `doc`, without recursion."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return deepest if isinstance(doc, list | dict) else 0


def parse_body(raw: bytes, max_records: int) -> list[Any]:
    """The list of record candidates in `raw` (each still to be checked)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not UTF-8 at byte {exc.start}") from None
    try:
        doc = strict_json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"body is not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        ) from None
    except RecursionError:
        raise BodyError("body is nested too deeply") from None
    except strict_json.NotFinite as exc:
        raise BodyError(str(exc)) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise BodyError(f"body holds a number that cannot be read: {str(exc)[:80]}") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_NESTING and _nesting(doc) > MAX_NESTING:
        raise BodyError(f"body is nested deeper than {MAX_NESTING} levels")
    if isinstance(doc, Mapping) and "records" in doc and "type" not in doc:
        if set(doc) != {"records"}:
            raise BodyError("a batch object has only the key 'records'")
        doc = doc["records"]
        if not isinstance(doc, list):
            raise BodyError("'records' is not an array")
    if isinstance(doc, Mapping):
        return [doc]
    if not isinstance(doc, list):
        raise BodyError("body is neither a record object nor an array of records")
    if not doc:
        raise BodyError("the batch is empty")
    if len(doc) > max_records:
        raise BodyError(f"{len(doc)} records in one request; at most {max_records}")
    return doc


@dataclass(frozen=True, slots=True)
class Accepted:
    index: int
    device: str
    rtype: str
    msg_id: str | None
    data: Mapping[str, Any]

    @property
    def stream(self) -> str:
        return stream_name(self.rtype, self.device)

    def new_record(self) -> NewRecord:
        return NewRecord(
            self.stream, RECORD_CLASS, {"id": self.msg_id, "data": self.data}, device=self.device
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(_ENCODE([self.rtype, self.data]).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    errors: list[str]


def foreign_devices(candidates: Sequence[Any], device: str) -> set[str]:
    """Devices other than the authenticated one that records claim to come from."""
    return {
        c["device"]
        for c in candidates
        if isinstance(c, Mapping) and isinstance(c.get("device"), str) and c["device"] != device
    }


_STREAMS_CACHED = 4096
_streams: dict[tuple[str, str], str] = {}  # (type, device) -> stream name, already validated


def _checked_stream(rtype: Any, device: Any, errors: list[str]) -> str | None:
    """The stream of a record's type and device, or None with the reasons in `errors`."""
    if isinstance(rtype, str) and isinstance(device, str):
        known = _streams.get((rtype, device))
        if known is not None:
            return known
    try:
        validate_device(device)
    except EnvelopeError:
        errors.append("'device' is missing or not a valid thing name")
    if not isinstance(rtype, str) or not TYPE_RE.fullmatch(rtype):
        errors.append("'type' is missing or not [a-z0-9_]{1,64}")
    if errors:
        return None
    stream = validate_stream(stream_name(rtype, device))  # holds by construction; checked
    if len(_streams) >= _STREAMS_CACHED:
        _streams.clear()
    _streams[(rtype, device)] = stream
    return stream


def check_record(
    index: int,
    obj: Any,
    validators: Mapping[str, RecordSchema],
    accept_unknown_types: bool,
    *,
    utf8_safe: bool = False,
) -> Accepted | Rejected:
    """Check one candidate against the envelope rules and its type's schema. `utf8_safe`:
    the object was decoded from JSON text without `\\u` escapes, so every string in it
    encodes to UTF-8 (the one way decoded JSON could not be stored is a lone surrogate)."""
    if not isinstance(obj, Mapping):
        return Rejected(index, ["record is not an object"])
    errors: list[str] = []
    if not obj.keys() <= RECORD_KEYS:
        extra = sorted(str(k) for k in obj if k not in RECORD_KEYS)
        errors.append(f"unknown keys {extra[:5]} (allowed: device, type, id, data)")
    device, rtype, msg_id, data = obj.get("device"), obj.get("type"), obj.get("id"), obj.get("data")
    stream = _checked_stream(rtype, device, errors)
    if msg_id is not None and not (
        isinstance(msg_id, str) and 0 < len(msg_id) <= MAX_ID_CHARS and msg_id.isprintable()
    ):
        errors.append(f"'id' is not a printable string of 1..{MAX_ID_CHARS} characters")
    if not isinstance(data, dict) and not isinstance(data, Mapping):
        errors.append("'data' is missing or not an object")
    if errors or stream is None:
        return Rejected(index, errors)
    # A stream was found only for a string type and device, and no error means data is an object.
    assert isinstance(rtype, str) and isinstance(device, str) and isinstance(data, Mapping)
    validator = validators.get(rtype)
    if validator is None and not accept_unknown_types:
        return Rejected(index, [f"unknown record type {rtype!r} (no schema configured)"])
    if validator is not None:
        try:
            errors = validator.errors(data)
        except RecursionError:
            return Rejected(index, ["'data' is nested too deeply"])
        if errors:
            return Rejected(index, errors)
    if not utf8_safe:
        try:
            _ENCODE(data).encode("utf-8")
        except (ValueError, UnicodeEncodeError, RecursionError) as exc:
            return Rejected(index, [f"'data' cannot be stored: {str(exc)[:200]}"])
    return Accepted(index, device, rtype, msg_id, data)


_REQUEST_KEY = "req\x1f"


def is_request_key(key: str | None) -> bool:
    return key is not None and key.startswith(_REQUEST_KEY)


def groups_for(
    accepted: Sequence[Accepted], device: str, request_key: str | None, body_digest: str
) -> list[tuple[KeyedAppend, list[Accepted]]]:
    """How the accepted records are written, each unit with the records it holds (in order).
    Each record with an `id` is its own unit, keyed by that id, whether or not the request has
    an Idempotency-Key (a record resent under a new key is still the same record). The others
    are one unit, keyed by the Idempotency-Key when there is one (its body digest tells a
    retry from a reused key; the unit is kept even when empty, so the key is remembered)."""
    out = [
        (KeyedAppend(f"msg\x1f{device}\x1f{a.msg_id}", [a.new_record()], a.fingerprint()), [a])
        for a in accepted
        if a.msg_id is not None
    ]
    plain = [a for a in accepted if a.msg_id is None]
    if request_key is not None:
        key = f"{_REQUEST_KEY}{device}\x1f{request_key}"
        out.append((KeyedAppend(key, [a.new_record() for a in plain], body_digest), plain))
    elif plain:
        out.append((KeyedAppend(None, [a.new_record() for a in plain]), plain))
    return out
