"""Syntax errors name the problem and its position; arbitrary text never raises anything else."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.iot_sql import (
    BinaryPayloadError,
    EvaluationError,
    Message,
    SqlSyntaxError,
    parse,
    parse_template,
)


@pytest.mark.parametrize(
    ("sql", "position", "fragment"),
    [
        ("SELEC * FROM 'a'", 0, "expected SELECT"),
        ("SELECT * FROM a/b", 14, "single quotes"),
        ("SELECT * FROM 'a/#/b'", 14, "'#' must be the whole last level"),
        ("SELECT * FROM 'a/b+'", 14, "'+' must be a whole level"),
        ("SELECT * FROM ''", 14, "empty"),
        ("SELECT a FROM 'x' WHERE", 23, "expected an expression"),
        ("SELECT a AS FROM 'x'", 12, "expected an alias"),
        ("SELECT 'abc FROM 'x'", 19, "unterminated string"),
        ("SELECT a FROM 'x' WHERE a ! b", 26, "unexpected character"),
        ("SELECT (a FROM 'x'", 10, "expected ')'"),
        ("SELECT CASE a END FROM 'x'", 14, "at least one WHEN"),
        ("SELECT {a: 1} FROM 'x'", 8, "keys are quoted strings"),
        ("SELECT VALUE a, b FROM 'x'", 14, "exactly one expression"),
        ("SELECT a FROM 'x' extra", 18, "expected end of statement"),
    ],
)
def test_syntax_errors_carry_position(sql: str, position: int, fragment: str) -> None:
    with pytest.raises(SqlSyntaxError) as err:
        parse(sql)
    assert err.value.position == position, str(err.value)
    assert fragment in str(err.value)
    assert "^" in str(err.value)  # the caret line points at the offending character


def test_keywords_are_case_insensitive_and_value_stays_a_key() -> None:
    query = parse("select value, Color as c from 't' where value <> -999")
    out = query.evaluate(Message("t", b'{"value": 3, "Color": "red"}', 0))
    assert out is not None and json.loads(out.payload_bytes()) == {"value": 3, "c": "red"}


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(SqlSyntaxError, match="nested deeper"):
        parse("SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM 't'")
    with pytest.raises(SqlSyntaxError, match="nested deeper"):
        parse("SELECT " + "-" * 5000 + "1 FROM 't'")


def test_template_errors_point_into_the_template() -> None:
    with pytest.raises(SqlSyntaxError) as err:
        parse_template("a/${topic(}")
    assert err.value.position == 10
    with pytest.raises(SqlSyntaxError, match="unterminated"):
        parse_template("a/${topic()")


SQL_WORDS = st.sampled_from(
    ["SELECT", "VALUE", "*", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "IN", "CASE", "WHEN",
     "THEN", "ELSE", "END", "NULL", "true", "a", "b.c", "x[0]", "'t/+'", "'#'", "(", ")", "[",
     "]", "{", "}", "'k'", ":", ",", ".", "+", "-", "/", "%", "=", "<>", "<", ">=", "1",
     "2.5", "1e400", "topic(2)", "cast(", "encode(*, 'base64')", "get(", "concat(", "\"s\""]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_sql_syntax_error(text: str) -> None:
    try:
        parse(text)
    except SqlSyntaxError:
        pass


@settings(max_examples=600, deadline=None)
@given(st.lists(SQL_WORDS, max_size=30).map(" ".join), st.binary(max_size=64))
def test_token_soup_parses_or_fails_cleanly_and_evaluates_without_crashing(
    text: str, payload: bytes
) -> None:
    try:
        query = parse(text)
    except SqlSyntaxError:
        return
    message = Message("t/x", payload, 0)
    try:
        out = query.evaluate(message)
        if out is not None:
            assert isinstance(out.payload_bytes(), bytes)
    except (BinaryPayloadError, EvaluationError):
        pass  # a payload the statement cannot shape: a named, reportable outcome


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), JSON_VALUES, max_size=3))
def test_select_star_round_trips_any_json_object(document: dict) -> None:
    payload = json.dumps(document).encode()
    out = parse("SELECT * FROM 't'").evaluate(Message("t", payload, 0))
    assert out is not None
    # Numbers compare as decimals: 2016-03-23 turns whole-number decimals into Int.
    decoded = json.loads(out.payload_bytes(), parse_float=Decimal)
    assert decoded == json.loads(payload, parse_float=Decimal)


def test_select_value_of_an_array_literal() -> None:
    """`VALUE [` starts an array literal (SELECT VALUE), while `value.` and `value,` are keys."""
    out = parse("SELECT VALUE [1, 2] FROM 't'").evaluate(Message("t", b"{}", 0))
    assert out is not None and out.payload_bytes() == b"[1,2]"
    out = parse("SELECT value.x AS y FROM 't'").evaluate(Message("t", b'{"value":{"x":1}}', 0))
    assert out is not None and out.payload_bytes() == b'{"y":1}'
