"""Properties the guide states for every value, checked over generated values."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.iot_sql import UNDEFINED, Message, parse
from cloud.iot_sql.operators import BINARY

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3).map(Decimal)
    | st.text(max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(BINARY)), VALUES, st.booleans())
def test_any_operator_with_an_undefined_operand_is_undefined(
    op: str, value: Any, undefined_left: bool
) -> None:
    """Guide, operator tables: "Any value | Undefined -> Undefined" (and the mirror row)."""
    left, right = (UNDEFINED, value) if undefined_left else (value, UNDEFINED)
    if op == "IN" and not undefined_left:
        return  # the right side of IN is an array by definition
    assert BINARY[op](left, right) is UNDEFINED


KEYS = st.sampled_from(["a", "b", "c"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(KEYS, st.dictionaries(KEYS, st.integers() | st.text(max_size=3), max_size=3),
                    max_size=3),
    KEYS,
    KEYS,
)  # fmt: skip
def test_nested_path_is_the_value_or_left_out(document: dict, outer: str, inner: str) -> None:
    """A present path is copied; a missing one is Undefined and so absent from the result."""
    sql = f"SELECT {outer}.{inner} AS v, 1 AS one FROM 't'"
    out = parse(sql).evaluate(Message("t", json.dumps(document).encode(), 0))
    assert out is not None
    result = json.loads(out.payload_bytes())
    if inner in document.get(outer, {}):
        assert result == {"v": document[outer][inner], "one": 1}
    else:
        assert result == {"one": 1}


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12).filter(bool))
def test_int_arithmetic_matches_integer_semantics(a: int, b: int) -> None:
    """Int op Int stays Int; `/` truncates toward zero, `%` follows the dividend's sign."""
    out = parse(f"SELECT VALUE [{a} + {b}, {a} - {b}, {a} * {b}, {a} / {b}, {a} % {b}] FROM 't'")
    values = out.project(Message("t", b"{}", 0)).value
    quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
    assert values == [a + b, a - b, a * b, quotient, a - b * quotient]
    assert all(type(v) is int for v in values)
