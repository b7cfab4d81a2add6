"""Built-in functions of AWS IoT SQL (guide, "Functions"), as pure functions of their arguments.

A function called with the wrong number or types of arguments returns Undefined, as the guide
says; an unknown name is a syntax error at parse time. Functions that call other AWS services
(aws_lambda, get_dynamodb, get_secret, get_thing_shadow, machinelearning_predict) are refused
at parse time: a local evaluation could only fake them.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from cloud.iot_sql.message import SQL_VERSION, Scope
from cloud.iot_sql.timefmt import format_joda
from cloud.iot_sql.values import (
    DECIMAL_CONTEXT,
    NOT_JSON,
    UNDEFINED,
    RawBytes,
    is_decimal,
    is_int,
    is_number,
    number,
    parse_json,
    to_boolean,
    to_int_floor,
    to_numeric,
    to_string,
)

Impl = Callable[[Scope, list[Any]], Any]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    impl: Impl
    min_args: int
    max_args: int | None  # None: any number


EXTERNAL_FUNCTIONS: Final = frozenset(
    {"aws_lambda", "get_dynamodb", "get_secret", "get_thing_shadow", "machinelearning_predict",
     "get_registry_data", "get_mqtt_property"}
)  # fmt: skip


# ---- helpers ---------------------------------------------------------------------------------


def _double(value: float) -> Any:
    """A double-precision result as a Decimal (Int when whole); NaN/inf are Undefined."""
    if math.isnan(value) or math.isinf(value):
        return UNDEFINED
    return number(Decimal(repr(value)))


def _as_float(value: Any) -> float | None:
    numeric = to_numeric(value)
    if numeric is UNDEFINED:
        return None
    try:
        return float(numeric)
    except OverflowError:
        return None


def _unary_double(fn: Callable[[float], float]) -> Impl:
    def impl(scope: Scope, args: list[Any]) -> Any:
        x = _as_float(args[0])
        if x is None:
            return UNDEFINED
        try:
            return _double(fn(x))
        except (ValueError, OverflowError, ZeroDivisionError):
            return UNDEFINED  # imaginary or out-of-range results are Undefined

    return impl


def _strings(args: list[Any]) -> list[str] | None:
    converted = [to_string(arg) for arg in args]
    if any(value is UNDEFINED for value in converted):
        return None
    return converted


def _string_fn(fn: Callable[..., Any]) -> Impl:
    """All arguments take the standard String conversion; Null/Undefined give Undefined."""

    def impl(scope: Scope, args: list[Any]) -> Any:
        strings = _strings(args)
        return UNDEFINED if strings is None else fn(*strings)

    return impl


def _to_int_standard(value: Any) -> Any:
    """The standard Int conversion: Decimal rounds to nearest, a String truncates."""
    if isinstance(value, bool):
        return UNDEFINED
    if is_int(value):
        return value
    if is_decimal(value):
        return int(value.to_integral_value(rounding=decimal.ROUND_HALF_UP))
    numeric = to_numeric(value)
    if numeric is UNDEFINED:
        return UNDEFINED
    return int(Decimal(numeric).to_integral_value(rounding=decimal.ROUND_DOWN))


def _with_decimal(fn: Callable[[], Any]) -> Any:
    try:
        with decimal.localcontext(DECIMAL_CONTEXT):
            return fn()
    except (decimal.DecimalException, ValueError, OverflowError):
        return UNDEFINED


# ---- numbers ---------------------------------------------------------------------------------


def _abs(scope: Scope, args: list[Any]) -> Any:
    x = to_numeric(args[0])
    if x is UNDEFINED:
        return UNDEFINED
    return abs(x) if is_int(x) else number(abs(x))


def _rounding(mode: str) -> Impl:
    def impl(scope: Scope, args: list[Any]) -> Any:
        x = to_numeric(args[0])
        if x is UNDEFINED:
            return UNDEFINED
        if is_int(x):
            return x
        return _with_decimal(lambda: int(x.to_integral_value(rounding=mode)))

    return impl


def _sign(scope: Scope, args: list[Any]) -> Any:
    x = to_numeric(args[0])
    if x is UNDEFINED:
        return UNDEFINED
    return (x > 0) - (x < 0)


def _mod(scope: Scope, args: list[Any]) -> Any:
    from cloud.iot_sql.operators import modulo

    return modulo(args[0], args[1])


def _power(scope: Scope, args: list[Any]) -> Any:
    x, y = _as_float(args[0]), _as_float(args[1])
    if x is None or y is None:
        return UNDEFINED
    try:
        result = math.pow(x, y)
    except (ValueError, OverflowError, ZeroDivisionError):
        return UNDEFINED
    return _double(result)


def _atan2(scope: Scope, args: list[Any]) -> Any:
    y, x = _as_float(args[0]), _as_float(args[1])
    if x is None or y is None:
        return UNDEFINED
    return _double(math.atan2(y, x))


def _trunc(scope: Scope, args: list[Any]) -> Any:
    x = to_numeric(args[0])
    places = to_int_floor(args[1]) if not isinstance(args[1], str) else UNDEFINED
    if x is UNDEFINED or not isinstance(places, int):
        return UNDEFINED
    if is_int(x):
        return x
    quantum = Decimal(1).scaleb(-min(max(places, 0), 34))
    return _with_decimal(lambda: number(x.quantize(quantum, rounding=decimal.ROUND_DOWN)))


def _bitwise(fn: Callable[..., int]) -> Impl:
    def impl(scope: Scope, args: list[Any]) -> Any:
        ints = [to_int_floor(arg) for arg in args]
        if any(value is UNDEFINED for value in ints):
            return UNDEFINED
        return fn(*ints)

    return impl


def _chr(scope: Scope, args: list[Any]) -> Any:
    code = to_int_floor(args[0])
    if code is UNDEFINED or not 0 <= code <= 127:
        return UNDEFINED
    return chr(code)


def _nanvl(scope: Scope, args: list[Any]) -> Any:
    first = args[0]
    if first is UNDEFINED or first is None or (is_decimal(first) and first.is_nan()):
        return args[1]
    return first


def _cast_decimal(value: Any) -> Any:
    if isinstance(value, bool):
        return 1 if value else 0  # 1.0 / 0.0, whole numbers are Int in 2016-03-23
    if is_number(value):
        return number(Decimal(value)) if is_decimal(value) else value
    if isinstance(value, str):
        numeric = to_numeric(value)
        return UNDEFINED if numeric is UNDEFINED else number(Decimal(numeric))
    return UNDEFINED


def _cast_int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if is_number(value) or isinstance(value, str):
        return to_int_floor(value)
    return UNDEFINED


def _cast_double(value: Any) -> Any:
    decimal_value = _cast_decimal(value)
    if decimal_value is UNDEFINED:
        return UNDEFINED
    return _double(float(decimal_value))


def _cast_boolean(value: Any) -> Any:
    if is_number(value):
        return value != 0
    return to_boolean(value)


CAST_TYPES: Final[dict[str, Callable[[Any], Any]]] = {
    "string": to_string,
    "nvarchar": to_string,
    "text": to_string,
    "ntext": to_string,
    "varchar": to_string,
    "int": _cast_int,
    "integer": _cast_int,
    "double": _cast_double,
    "decimal": _cast_decimal,
    "bool": _cast_boolean,
    "boolean": _cast_boolean,
}


# ---- strings ---------------------------------------------------------------------------------


def _concat(scope: Scope, args: list[Any]) -> Any:
    if not args or any(arg is UNDEFINED for arg in args):
        return UNDEFINED
    if len(args) == 1:
        # The guide's example `concat(1) = "1"`: a lone argument keeps arrays, else is a String.
        return args[0] if isinstance(args[0], list) else to_string(args[0])
    if any(isinstance(arg, list) for arg in args):
        out: list[Any] = []
        for arg in args:
            out.extend(arg) if isinstance(arg, list) else out.append(arg)
        return out
    if any(isinstance(arg, str) for arg in args):
        strings = _strings(args)
        return UNDEFINED if strings is None else "".join(strings)
    return UNDEFINED


def _java_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def _pad(left: bool) -> Impl:
    def impl(scope: Scope, args: list[Any]) -> Any:
        text = to_string(args[0])
        width = to_int_floor(args[1])
        if text is UNDEFINED or width is UNDEFINED:
            return UNDEFINED
        spaces = " " * min(max(width, 0), 1000)
        return spaces + text if left else text + spaces

    return impl


def _substring(scope: Scope, args: list[Any]) -> Any:
    text = to_string(args[0])
    bounds = [to_int_floor(arg) for arg in args[1:]]
    if text is UNDEFINED or any(bound is UNDEFINED for bound in bounds):
        return UNDEFINED
    start = min(max(bounds[0], 0), len(text))
    if len(bounds) == 1:
        return text[start:]
    end = min(max(bounds[1], 0), len(text))
    return text[start:end] if start < end else ""


def _get(scope: Scope, args: list[Any]) -> Any:
    collection, key = args
    if isinstance(collection, dict):
        return collection.get(key, UNDEFINED) if isinstance(key, str) else UNDEFINED
    if isinstance(collection, (list, str)):
        index = _to_int_standard(key)
        if index is UNDEFINED or not 0 <= index < len(collection):
            return UNDEFINED
        return collection[index]
    return UNDEFINED


def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def _regexp_matches(text: str, pattern: str) -> Any:
    compiled = _compile(pattern)
    return UNDEFINED if compiled is None else compiled.search(text) is not None


def _regexp_substr(text: str, pattern: str) -> Any:
    compiled = _compile(pattern)
    if compiled is None:
        return UNDEFINED
    found = compiled.search(text)
    return "" if found is None else found.group(0)


def _java_replacement(replacement: str) -> str | None:
    """A Java replacement string (`$1`, `\\$`) as a Python `re.sub` template."""
    out: list[str] = []
    i = 0
    while i < len(replacement):
        ch = replacement[i]
        if ch == "\\":
            if i + 1 >= len(replacement):
                return None
            out.append(replacement[i + 1].replace("\\", "\\\\"))
            i += 2
        elif ch == "$":
            j = i + 1
            while j < len(replacement) and replacement[j].isdigit():
                j += 1
            if j == i + 1:
                return None
            out.append(f"\\g<{replacement[i + 1 : j]}>")
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _regexp_replace(text: str, pattern: str, replacement: str) -> Any:
    compiled = _compile(pattern)
    template = _java_replacement(replacement)
    if compiled is None or template is None:
        return UNDEFINED
    try:
        return compiled.sub(template, text)
    except (re.error, IndexError):
        return UNDEFINED


def _hash(name: str) -> Impl:
    return _string_fn(lambda text: hashlib.new(name, text.encode("utf-8")).hexdigest())


def _encode(scope: Scope, args: list[Any]) -> Any:
    value, scheme = args
    if not isinstance(scheme, str) or scheme.lower() != "base64":
        return UNDEFINED
    if isinstance(value, RawBytes):
        data = value.data
    else:
        text = to_string(value)
        if text is UNDEFINED:
            return UNDEFINED
        data = text.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def _decode(scope: Scope, args: list[Any]) -> Any:
    value, scheme = args
    if not isinstance(value, str) or not isinstance(scheme, str) or scheme.lower() != "base64":
        return UNDEFINED
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None  # the guide: NULL when the string cannot be decoded
    parsed = parse_json(data)
    if parsed is not NOT_JSON:
        return parsed
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _parse_time(scope: Scope, args: list[Any]) -> Any:
    pattern, timestamp = args[0], to_int_floor(args[1])
    zone = args[2] if len(args) > 2 else "UTC"
    if not isinstance(pattern, str) or timestamp is UNDEFINED or not isinstance(zone, str):
        return UNDEFINED
    result = format_joda(pattern, timestamp, zone)
    return UNDEFINED if result is None else result


# ---- message context -------------------------------------------------------------------------


def _topic(scope: Scope, args: list[Any]) -> Any:
    topic = scope.message.rule_topic
    if not args:
        return topic
    index = to_int_floor(args[0])
    levels = topic.split("/")
    if index is UNDEFINED or not 1 <= index <= len(levels):
        return UNDEFINED
    return levels[index - 1]


def _optional(value: str | None) -> Any:
    return UNDEFINED if value is None else value


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    # numbers
    "abs": FunctionSpec(_abs, 1, 1),
    "ceil": FunctionSpec(_rounding(decimal.ROUND_CEILING), 1, 1),
    "floor": FunctionSpec(_rounding(decimal.ROUND_FLOOR), 1, 1),
    "round": FunctionSpec(_rounding(decimal.ROUND_HALF_UP), 1, 1),
    "sign": FunctionSpec(_sign, 1, 1),
    "mod": FunctionSpec(_mod, 2, 2),
    "remainder": FunctionSpec(_mod, 2, 2),
    "power": FunctionSpec(_power, 2, 2),
    "sqrt": FunctionSpec(_unary_double(math.sqrt), 1, 1),
    "exp": FunctionSpec(_unary_double(math.exp), 1, 1),
    "ln": FunctionSpec(_unary_double(math.log), 1, 1),
    "log": FunctionSpec(_unary_double(math.log10), 1, 1),
    "sin": FunctionSpec(_unary_double(math.sin), 1, 1),
    "cos": FunctionSpec(_unary_double(math.cos), 1, 1),
    "tan": FunctionSpec(_unary_double(math.tan), 1, 1),
    "asin": FunctionSpec(_unary_double(math.asin), 1, 1),
    "acos": FunctionSpec(_unary_double(math.acos), 1, 1),
    "atan": FunctionSpec(_unary_double(math.atan), 1, 1),
    "sinh": FunctionSpec(_unary_double(math.sinh), 1, 1),
    "cosh": FunctionSpec(_unary_double(math.cosh), 1, 1),
    "tanh": FunctionSpec(_unary_double(math.tanh), 1, 1),
    "atan2": FunctionSpec(_atan2, 2, 2),
    "trunc": FunctionSpec(_trunc, 2, 2),
    "bitand": FunctionSpec(_bitwise(lambda a, b: a & b), 2, 2),
    "bitor": FunctionSpec(_bitwise(lambda a, b: a | b), 2, 2),
    "bitxor": FunctionSpec(_bitwise(lambda a, b: a ^ b), 2, 2),
    "bitnot": FunctionSpec(_bitwise(lambda a: ~a), 1, 1),
    "chr": FunctionSpec(_chr, 1, 1),
    "nanvl": FunctionSpec(_nanvl, 2, 2),
    "rand": FunctionSpec(lambda scope, args: _double(scope.message.rand()), 0, 0),
    # strings
    "concat": FunctionSpec(_concat, 0, None),
    "lower": FunctionSpec(_string_fn(str.lower), 1, 1),
    "upper": FunctionSpec(_string_fn(str.upper), 1, 1),
    "length": FunctionSpec(_string_fn(len), 1, 1),
    "numbytes": FunctionSpec(_string_fn(lambda s: len(s.encode("utf-8"))), 1, 1),
    "trim": FunctionSpec(_string_fn(_java_trim), 1, 1),
    "ltrim": FunctionSpec(_string_fn(lambda s: s.lstrip(" \t")), 1, 1),
    "rtrim": FunctionSpec(_string_fn(lambda s: s.rstrip(" \t")), 1, 1),
    "lpad": FunctionSpec(_pad(left=True), 2, 2),
    "rpad": FunctionSpec(_pad(left=False), 2, 2),
    "substring": FunctionSpec(_substring, 2, 3),
    "startswith": FunctionSpec(_string_fn(str.startswith), 2, 2),
    "endswith": FunctionSpec(_string_fn(str.endswith), 2, 2),
    "indexof": FunctionSpec(_string_fn(str.find), 2, 2),
    "replace": FunctionSpec(_string_fn(str.replace), 3, 3),
    "regexp_matches": FunctionSpec(_string_fn(_regexp_matches), 2, 2),
    "regexp_substr": FunctionSpec(_string_fn(_regexp_substr), 2, 2),
    "regexp_replace": FunctionSpec(_string_fn(_regexp_replace), 3, 3),
    "md5": FunctionSpec(_hash("md5"), 1, 1),
    "sha1": FunctionSpec(_hash("sha1"), 1, 1),
    "sha224": FunctionSpec(_hash("sha224"), 1, 1),
    "sha256": FunctionSpec(_hash("sha256"), 1, 1),
    "sha384": FunctionSpec(_hash("sha384"), 1, 1),
    "sha512": FunctionSpec(_hash("sha512"), 1, 1),
    "encode": FunctionSpec(_encode, 2, 2),
    "decode": FunctionSpec(_decode, 2, 2),
    # values
    "get": FunctionSpec(_get, 2, 2),
    "isnull": FunctionSpec(lambda scope, args: args[0] is None, 1, 1),
    "isundefined": FunctionSpec(lambda scope, args: args[0] is UNDEFINED, 1, 1),
    "parse_time": FunctionSpec(_parse_time, 2, 3),
    # message context
    "topic": FunctionSpec(_topic, 0, 1),
    "timestamp": FunctionSpec(lambda scope, args: scope.message.timestamp_ms, 0, 0),
    "clientid": FunctionSpec(lambda scope, args: scope.message.clientid, 0, 0),
    "principal": FunctionSpec(lambda scope, args: _optional(scope.message.principal), 0, 0),
    "accountid": FunctionSpec(lambda scope, args: scope.message.accountid, 0, 0),
    "traceid": FunctionSpec(lambda scope, args: _optional(scope.message.traceid), 0, 0),
    "newuuid": FunctionSpec(lambda scope, args: scope.message.newuuid(), 0, 0),
    "sql_version": FunctionSpec(lambda scope, args: SQL_VERSION, 0, 0),
}


def call(name: str, scope: Scope, args: list[Any]) -> Any:
    """Apply a known function; a wrong argument count is Undefined (guide, "Data types")."""
    spec = FUNCTIONS[name]
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        return UNDEFINED
    return spec.impl(scope, args)
