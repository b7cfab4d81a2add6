"""What a request is answered: a status, a JSON body, extra headers. Built by either process
(the HTTP process refuses what it can refuse alone; the commit process answers the rest), so
this module imports nothing heavier than `json`."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

# Compact and UTF-8 (no \u escapes for non-ASCII): answers and frames between the processes.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def json_answer(status: int, doc: Any, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, dumps(doc).encode(), headers)


def error(status: int, code: str, message: str, *headers: tuple[str, str]) -> Answer:
    return json_answer(status, {"error": code, "message": message}, headers)


def log_unavailable() -> Answer:
    """The log could not commit (a fault, or its process is gone): retry soon."""
    return error(503, "log_unavailable", "the log could not commit; retry", ("Retry-After", "5"))
