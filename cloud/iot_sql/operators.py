"""The operator tables of the guide ("Operators"), one function per operator.

Every operator yields Undefined when an operand is Undefined or of a type the table does not
list; logic operators accept Booleans or the strings "true"/"false" (any case).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from cloud.iot_sql.values import (
    DECIMAL_CONTEXT,
    UNDEFINED,
    is_int,
    is_number,
    number,
    sql_equals,
    to_boolean,
    to_numeric,
    to_string,
)


def logical_and(left: Any, right: Any) -> Any:
    a, b = to_boolean(left), to_boolean(right)
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    return a and b


def logical_or(left: Any, right: Any) -> Any:
    a, b = to_boolean(left), to_boolean(right)
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    return a or b


def logical_not(operand: Any) -> Any:
    value = to_boolean(operand)
    return UNDEFINED if value is UNDEFINED else not value


def equals(left: Any, right: Any) -> Any:
    return sql_equals(left, right)


def not_equals(left: Any, right: Any) -> Any:
    result = sql_equals(left, right)
    return UNDEFINED if result is UNDEFINED else not result


def _ordered(test: Callable[[Decimal, Decimal], bool]) -> Callable[[Any, Any], Any]:
    def compare(left: Any, right: Any) -> Any:
        a, b = to_numeric(left), to_numeric(right)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        return test(Decimal(a), Decimal(b))

    return compare


greater = _ordered(lambda a, b: a > b)
greater_equal = _ordered(lambda a, b: a >= b)
less = _ordered(lambda a, b: a < b)
less_equal = _ordered(lambda a, b: a <= b)


def contained_in(left: Any, right: Any) -> Any:
    """`x IN array`: true when some element equals x under `=`."""
    if left is UNDEFINED or not isinstance(right, list):
        return UNDEFINED
    return any(sql_equals(left, item) is True for item in right)


def plus(left: Any, right: Any) -> Any:
    """`+` concatenates when either side is a String, else adds numbers."""
    if left is UNDEFINED or right is UNDEFINED:
        return UNDEFINED
    if isinstance(left, str) or isinstance(right, str):
        a, b = to_string(left), to_string(right)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        return a + b
    if not (is_number(left) and is_number(right)):
        return UNDEFINED
    return _arith(left, right, lambda a, b: a + b, lambda a, b: a + b)


def _int_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _int_rem(a: int, b: int) -> int:
    # The remainder takes the sign of the dividend (as in Java and decimal arithmetic).
    return a - b * _int_div(a, b)


def _arith(
    left: Any,
    right: Any,
    on_int: Callable[[int, int], int],
    on_decimal: Callable[[Decimal, Decimal], Decimal],
) -> Any:
    if is_int(left) and is_int(right):
        return on_int(left, right)
    try:
        with decimal.localcontext(DECIMAL_CONTEXT):
            return number(on_decimal(Decimal(left), Decimal(right)))
    except decimal.DecimalException:
        return UNDEFINED


def _numeric_operator(
    on_int: Callable[[int, int], int], on_decimal: Callable[[Decimal, Decimal], Decimal]
) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        a, b = to_numeric(left), to_numeric(right)
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        if is_int(a) and is_int(b) and on_int in (_int_div, _int_rem) and b == 0:
            return UNDEFINED
        return _arith(a, b, on_int, on_decimal)

    return apply


minus = _numeric_operator(lambda a, b: a - b, lambda a, b: a - b)
times = _numeric_operator(lambda a, b: a * b, lambda a, b: a * b)
divide = _numeric_operator(_int_div, lambda a, b: a / b)
modulo = _numeric_operator(_int_rem, lambda a, b: a % b)


def negate(operand: Any) -> Any:
    value = to_numeric(operand)
    if value is UNDEFINED:
        return UNDEFINED
    return -value if is_int(value) else number(-value)


BINARY = {
    "OR": logical_or,
    "AND": logical_and,
    "=": equals,
    "<>": not_equals,
    ">": greater,
    ">=": greater_equal,
    "<": less,
    "<=": less_equal,
    "IN": contained_in,
    "+": plus,
    "-": minus,
    "*": times,
    "/": divide,
    "%": modulo,
}
