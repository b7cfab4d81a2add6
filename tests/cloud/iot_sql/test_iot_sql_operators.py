"""The operator tables of the AWS IoT developer guide, page iot-sql-operators.html.

Each case is one row of the guide's table for that operator (operand types -> result).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cloud.iot_sql import UNDEFINED, Message, parse

PAYLOAD = (
    b'{"i": 7, "j": 2, "d": 2.5, "s": "abc", "n": "12", "b": true, "f": false, "z": null,'
    b' "arr": [1, 2], "arr2": [1, 2], "arr3": [2, 1], "obj": {"a": 1, "b": 2},'
    b' "obj2": {"b": 2, "a": 1}, "t": "TRUE", "fs": "false"}'
)


def ev(expression: str) -> Any:
    query = parse(f"SELECT VALUE {expression} FROM 't'")
    return query.project(Message(topic="t", payload=PAYLOAD, timestamp_ms=0)).value


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # AND: Boolean/Boolean; "true"/"false" strings any case; anything else Undefined
        ("b AND b", True),
        ("b AND f", False),
        ("t AND b", True),
        ("t AND fs", False),
        ("b AND s", UNDEFINED),
        ("b AND missing", UNDEFINED),
        ("f AND missing", UNDEFINED),  # no short-circuit to false: the table says Undefined
        ("b AND 1", UNDEFINED),
        # OR
        ("f OR b", True),
        ("f OR fs", False),
        ("b OR missing", UNDEFINED),
        ("z OR b", UNDEFINED),
        # NOT
        ("NOT b", False),
        ("NOT fs", True),
        ("NOT s", UNDEFINED),
        ("NOT missing", UNDEFINED),
    ],
)
def test_logic_operators_iot_sql_operators(expression: str, expected: Any) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("i > j", True),
        ("d >= 2.5", True),
        ("j < d", True),
        ("i <= 6", False),
        ("n > i", True),  # String/Int: "12" converts to Decimal
        ("'7.0' >= i", True),
        ("s > i", UNDEFINED),  # a string that does not convert
        ("b > 0", UNDEFINED),  # Boolean is "other value"
        ("z < 1", UNDEFINED),
        ("missing > 1", UNDEFINED),
        ("arr > 1", UNDEFINED),
    ],
)
def test_ordering_operators_iot_sql_operators(expression: str, expected: Any) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("i = 7", True),
        ("i = 7.0", True),  # Int converted to Decimal before comparing
        ("d = 2.5", True),
        ("s = 'abc'", True),
        ("arr = arr2", True),
        ("arr = arr3", False),  # arrays: same items in the same order
        ("obj = obj2", True),  # objects: key order does not matter
        ("z = NULL", True),
        ("n = 12", False),  # mismatched types: String vs Int
        ("b = 'true'", False),
        ("i = missing", UNDEFINED),
        ("missing = missing", UNDEFINED),
        ("i <> 7", False),
        ("arr <> arr3", True),
        ("obj <> obj2", False),
        ("z <> NULL", False),  # Null <> Null is False
        ("n <> 12", True),  # mismatched types: True
        ("missing <> 1", UNDEFINED),
    ],
)
def test_equality_operators_iot_sql_operators(expression: str, expected: Any) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("s + 1", "abc1"),  # String + any: right converted to string
        ("1 + s", "1abc"),
        ("s + b", "abctrue"),
        ("s + arr", "abc[1,2]"),
        ("n + 1", "121"),  # a numeric string still concatenates
        ("i + j", 9),
        ("i + d", Decimal("9.5")),
        ("d + d", 5),  # whole-number Decimal is Int in 2016-03-23
        ("b + 1", UNDEFINED),
        ("s + z", UNDEFINED),  # Null has no string form
        ("s + missing", UNDEFINED),
        ("arr + arr", UNDEFINED),
    ],
)
def test_plus_operator_iot_sql_operators(expression: str, expected: Any) -> None:
    result = ev(expression)
    if expected is UNDEFINED:
        assert result is UNDEFINED
    else:
        assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("i - j", 5),
        ("i - d", Decimal("4.5")),
        ("n - 2", 10),  # String/Int: strings convert to Decimal
        ("s - 1", UNDEFINED),
        ("b - 1", UNDEFINED),
        ("i * j", 14),
        ("d * j", 5),
        ("n * '0.5'", 6),
        ("s * 2", UNDEFINED),
        ("i / j", 3),  # Int / Int is Int
        ("-7 / 2", -3),  # truncated toward zero
        ("i / 2.0", 3),  # 2.0 is processed as Int 2 in 2016-03-23 (iot-sql-data-types)
        ("i / 2.5", Decimal("2.8")),
        ("'9' / 4", Decimal("2.25")),
        ("i / 0", UNDEFINED),
        ("i % j", 1),
        ("-7 % 2", -1),  # the sign of the dividend
        ("d % 1", Decimal("0.5")),
        ("'7' % '4'", 3),
        ("z % 2", UNDEFINED),
        ("i % 0", UNDEFINED),
        ("missing * 2", UNDEFINED),
    ],
)
def test_arithmetic_operators_iot_sql_operators(expression: str, expected: Any) -> None:
    result = ev(expression)
    if expected is UNDEFINED:
        assert result is UNDEFINED
    else:
        assert result == expected and type(result) is type(expected)


def test_in_operator_checks_array_membership_iot_sql_operators() -> None:
    assert ev("i IN [1, 7, 9]") is True
    assert ev("s IN ['x', 'y']") is False
    assert ev("missing IN [1]") is UNDEFINED
    assert ev("i IN 7") is UNDEFINED


def test_precedence_and_parentheses() -> None:
    assert ev("1 + 2 * 3") == 7
    assert ev("(1 + 2) * 3") == 9
    assert ev("NOT i > 8 AND j = 2") is True
    assert ev("f AND f OR b") is True
    assert ev("-i + 10") == 3
