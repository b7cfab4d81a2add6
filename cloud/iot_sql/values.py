"""The value model of AWS IoT SQL 2016-03-23 and its standard conversions.

Python types stand for the guide's types: Int = `int` (never `bool`), Decimal =
`decimal.Decimal`, Boolean = `bool`, String = `str`, Array = `list`, Object = `dict`,
Null = `None`, Undefined = the `UNDEFINED` singleton. A non-JSON payload addressed with `*`
is a `RawBytes`.

SQL version 2016-03-23 processes whole-number decimals such as `10.0` as Int `10`
(guide, "Data types"); `number()` applies that rule everywhere a Decimal is produced.
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final


class _Undefined:
    """Not a value: a missing key, a bad conversion, a function called with bad arguments."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __bool__(self) -> bool:
        raise TypeError("Undefined has no truth value; compare with `is UNDEFINED`")


UNDEFINED: Final = _Undefined()


@dataclass(frozen=True, slots=True)
class RawBytes:
    """A payload that is not JSON, as `*` returns it: the bytes, untouched."""

    data: bytes


class BinaryPayloadError(ValueError):
    """A non-JSON payload was placed where only JSON can go (e.g. merged into an object)."""

    def __init__(self, message: str, evidence: bytes = b"") -> None:
        super().__init__(message)
        self.evidence = evidence[:64]


# 34 significant digits, exponent range of the guide (1E-999 .. 9.999...E999).
DECIMAL_CONTEXT: Final = decimal.Context(
    prec=34,
    Emin=-999,
    Emax=999,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_INT_MAX_DIGITS: Final = 34

# The guide's pattern for strings that convert to Decimal.
_DECIMAL_STRING_RE: Final = re.compile(r"^-?\d+(\.\d+)?([Ee]-?\d+)?$")


def is_int(value: Any) -> bool:
    return type(value) is int


def is_decimal(value: Any) -> bool:
    return type(value) is Decimal


def is_number(value: Any) -> bool:
    return type(value) is int or type(value) is Decimal


def type_name(value: Any) -> str:
    if value is UNDEFINED:
        return "Undefined"
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if is_int(value):
        return "Int"
    if is_decimal(value):
        return "Decimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, RawBytes):
        return "Binary"
    return type(value).__name__


def number(value: Decimal | int) -> Any:
    """A numeric result as SQL 2016-03-23 holds it: whole numbers become Int.

    Non-finite results (NaN, infinities) are not representable in JSON: Undefined.
    """
    if isinstance(value, int):
        return value
    if not value.is_finite():
        return UNDEFINED
    if value == value.to_integral_value() and value.adjusted() < _INT_MAX_DIGITS:
        return int(value)
    return value


def parse_decimal_string(text: str) -> Decimal | None:
    if not _DECIMAL_STRING_RE.match(text):
        return None
    try:
        return DECIMAL_CONTEXT.create_decimal(text)
    except decimal.DecimalException:
        return None


# ---- standard conversions (guide, "Data types" > "Conversions") ----------------------------


def to_decimal(value: Any) -> Any:
    """Decimal (or Int), Null for Null, Undefined when no conversion exists."""
    if is_number(value):
        return Decimal(value)
    if isinstance(value, str):
        parsed = parse_decimal_string(value)
        return UNDEFINED if parsed is None else parsed
    if value is None:
        return None
    return UNDEFINED


def to_numeric(value: Any) -> Any:
    """For operators and math functions: Int stays Int, Decimal stays, strings parse to Decimal.

    Everything else (Boolean, Null, Array, Object, Undefined) is Undefined.
    """
    if is_number(value):
        return value
    if isinstance(value, str):
        parsed = parse_decimal_string(value)
        return UNDEFINED if parsed is None else parsed
    return UNDEFINED


def to_int_floor(value: Any) -> Any:
    """Int argument conversion used by functions that say "rounded down to the nearest Int"."""
    numeric = to_numeric(value)
    if numeric is UNDEFINED:
        return UNDEFINED
    if is_int(numeric):
        return numeric
    try:
        return int(numeric.to_integral_value(rounding=decimal.ROUND_FLOOR))
    except (decimal.DecimalException, ValueError, OverflowError):
        return UNDEFINED


def to_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return UNDEFINED


def decimal_to_string(value: Decimal) -> str:
    return str(value)


def to_string(value: Any) -> Any:
    """String form per the guide; Null and Undefined have none (Undefined)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int(value):
        return str(value)
    if is_decimal(value):
        return decimal_to_string(value)
    if isinstance(value, (list, dict)):
        return to_json(value)
    return UNDEFINED


# ---- JSON in and out -------------------------------------------------------------------------


class _NotJson(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)


def _normalize(value: Any) -> Any:
    if is_decimal(value):
        return number(value)
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalize(item) for key, item in value.items()}
    return value


def _parse_float(text: str) -> Decimal:
    return DECIMAL_CONTEXT.create_decimal(text)


NOT_JSON: Final = object()


def parse_json(data: bytes | str) -> Any:
    """The JSON document in `data`, with IoT SQL number types, or NOT_JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        parsed = json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError, _NotJson, decimal.DecimalException):
        return NOT_JSON
    return _normalize(parsed)


def to_json(value: Any) -> str:
    """Compact JSON; Undefined members are left out, as the guide serializes them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int(value):
        return str(value)
    if is_decimal(value):
        return decimal_to_string(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value if item is not UNDEFINED) + "]"
    if isinstance(value, dict):
        members = (
            json.dumps(key, ensure_ascii=False) + ":" + to_json(item)
            for key, item in value.items()
            if item is not UNDEFINED
        )
        return "{" + ",".join(members) + "}"
    if value is UNDEFINED:
        return ""
    if isinstance(value, RawBytes):
        raise BinaryPayloadError(
            "a non-JSON payload cannot be placed inside a JSON result", evidence=value.data
        )
    raise TypeError(f"not an IoT SQL value: {value!r}")


def serialize(value: Any) -> bytes:
    """The outgoing payload bytes of a rule: raw bytes pass through, Undefined is empty."""
    if isinstance(value, RawBytes):
        return value.data
    return to_json(value).encode("utf-8")


def sql_equals(left: Any, right: Any) -> Any:
    """`=` per the guide: Undefined on either side is Undefined; mismatched types are false."""
    if left is UNDEFINED or right is UNDEFINED:
        return UNDEFINED
    return _structural_equals(left, right)


def _structural_equals(left: Any, right: Any) -> bool:
    if is_number(left) and is_number(right):
        return Decimal(left) == Decimal(right)
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(
            _structural_equals(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(
            _structural_equals(left[key], right[key]) for key in left
        )
    return bool(left == right)
