"""Commands from the cloud on `floorline/<site>/<thing>/cmd`. Pure parsing and validation.

    {"id": "c-42", "command": "set-rate", "args": {"stream": "env/bme280@0x76",
                                                   "sampleIntervalSeconds": 5}}

Every command gets an answer on `.../reply`: {"id", "command", "ok", "error"?}. A malformed or
unknown command is rejected with the reason; it never stops the component.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from components.core.envelope import EnvelopeError, validate_stream

MAX_COMMAND_BYTES = 8 * 1024


class CommandError(ValueError):
    def __init__(self, reason: str, command_id: str | None = None, name: str | None = None):
        super().__init__(reason)
        self.command_id = command_id
        self.name = name


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)


def _number(args: dict[str, Any], key: str, lo: float, hi: float, default: float | None) -> float:
    v = args.get(key, default)
    if v is None:
        raise ValueError(f"'{key}' is required")
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"'{key}' must be a number")
    if not lo <= v <= hi:
        raise ValueError(f"'{key}' must be between {lo} and {hi}")
    return float(v)


def _flush(args: dict[str, Any]) -> dict[str, Any]:
    return {}


def _identify(args: dict[str, Any]) -> dict[str, Any]:
    return {"seconds": _number(args, "seconds", 1, 600, 10)}


def _set_rate(args: dict[str, Any]) -> dict[str, Any]:
    stream = args.get("stream")
    try:
        validate_stream(stream)  # type: ignore[arg-type]
    except EnvelopeError as exc:
        raise ValueError(str(exc)) from None
    return {
        "stream": stream,
        "sampleIntervalSeconds": _number(args, "sampleIntervalSeconds", 0.01, 3600, None),
    }


VALIDATORS = {"flush": _flush, "identify": _identify, "set-rate": _set_rate}


def parse(payload: bytes) -> Command:
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(f"command is {len(payload)} bytes, limit {MAX_COMMAND_BYTES}")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CommandError(f"command is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CommandError("command is not a JSON object")
    cid = doc.get("id")
    cid = cid if isinstance(cid, str) and 0 < len(cid) <= 128 else None
    name = doc.get("command")
    if cid is None:
        raise CommandError(
            "command needs an 'id' (a string of 1 to 128 characters)",
            name=name if isinstance(name, str) else None,
        )
    if name not in VALIDATORS:
        raise CommandError(
            f"unknown command {name!r}; known: {sorted(VALIDATORS)}",
            cid,
            name if isinstance(name, str) else None,
        )
    args = doc.get("args", {})
    if not isinstance(args, dict):
        raise CommandError("'args' must be an object", cid, name)
    try:
        clean = VALIDATORS[name](args)
    except ValueError as exc:
        raise CommandError(str(exc), cid, name) from None
    return Command(cid, name, clean)


def reply(command_id: str | None, name: str | None, error: str | None = None) -> bytes:
    doc: dict[str, Any] = {"id": command_id, "command": name, "ok": error is None}
    if error is not None:
        doc["error"] = error
    return json.dumps(doc, separators=(",", ":")).encode()
