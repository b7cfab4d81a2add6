"""JSON from outside, read strictly: NaN, Infinity and numbers that overflow to infinity are
refused (the log, the lake and the dashboards take finite numbers only). One decoder for HTTP
bodies and export read-back alike."""

from __future__ import annotations

import json
import math
from typing import Any


class NotFinite(ValueError):
    """A number JSON does not allow, or one too large for a float."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise NotFinite(f"{name} is not a number JSON allows")


loads = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant).decode
