"""Function examples of the AWS IoT developer guide, page iot-sql-functions.html.

Each parametrized row is an `example = result` line from the function's section of that page
(the section is the first word of the expression). Where the 2016-03-23 whole-number rule
changes the printed result (e.g. `sqrt(9) = 3.0`), the Int form is expected and noted.
"""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal
from typing import Any

import pytest

from cloud.iot_sql import UNDEFINED, Message, SqlSyntaxError, parse


def ev(expression: str, payload: Any = None, **context: Any) -> Any:
    data = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
    message = Message(
        topic=context.pop("topic", "things/myThings/thingOne"),
        payload=data,
        timestamp_ms=context.pop("ts", 1481825251155),
        **context,
    )
    return parse(f"SELECT VALUE {expression} FROM '#'").project(message).value


GUIDE_EXAMPLES = [
    ("abs(-5)", 5),
    ("bitand(13, 5)", 5),
    ("bitor(8, 5)", 13),
    ("cast(true as Int)", 1),
    ("ceil(1.2)", 2),
    ("ceil(-1.2)", -1),
    ("chr(65)", "A"),
    ("chr(49)", "1"),
    ("concat(1)", "1"),
    ("concat([1, 2, 3], 4)", [1, 2, 3, 4]),
    ("concat([1, 2, 3], 'hello')", [1, 2, 3, "hello"]),
    ("concat('con', 'cat')", "concat"),
    ("concat(1, 'hello')", "1hello"),
    ("concat('he','is','man')", "heisman"),
    ("concat([1, 2, 3], 'hello', [4, 5, 6])", [1, 2, 3, "hello", 4, 5, 6]),
    ("cos(0)", 1),  # 1.0 in the guide; whole number -> Int in 2016-03-23
    ("cosh(2.3)", Decimal("5.037220649268761")),
    ("endswith('cat','at')", True),
    ("floor(1.2)", 1),
    ("floor(-1.2)", -2),
    ("get(['a', 'b', 'c'], 1)", "b"),
    ("get({'a':'b'}, 'a')", "b"),
    ("get('abc', 1)", "b"),  # the guide prints "a" but documents a 0-based index
    ("md5('hello')", "5d41402abc4b2a76b9719d911017c592"),
    ("indexof('abcd', 'bc')", 1),
    ("isNull(5)", False),
    ("isNull(Null)", True),
    ("isUndefined(5)", False),
    ("isUndefined(floor([1,2,3]))", True),
    ("length('hi')", 2),
    ("length(false)", 5),
    ("log(100)", 2),  # 2.0 in the guide
    ("lower('HELLO')", "hello"),
    ("lower(['HELLO'])", '["hello"]'),
    ("lpad('hello', 2)", "  hello"),
    ("lpad(1, 3)", "   1"),
    ("Ltrim(' h i ')", "h i "),
    ("mod(8, 3)", 2),
    ("Nanvl(8, 3)", 8),
    ("numbytes('hi')", 2),
    ("numbytes('€')", 3),
    ("power(2, 5)", 32),  # 32.0 in the guide
    ("regexp_matches('aaaa', 'a{2,}')", True),
    ("regexp_matches('aaaa', 'b')", False),
    ("regexp_replace('abcd', 'bc', 'x')", "axd"),
    ("regexp_replace('abcd', 'b(.*)d', '$1')", "ac"),
    ("regexp_substr('hihihello', 'hi')", "hi"),
    ("regexp_substr('hihihello', '(hi)*')", "hihi"),
    ("remainder(8, 3)", 2),
    ("replace('abcd', 'bc', 'x')", "axd"),
    ("replace('abcdabcd', 'b', 'x')", "axcdaxcd"),
    ("rpad('hello', 2)", "hello  "),
    ("rpad(1, 3)", "1   "),
    ("Round(1.2)", 1),
    ("Round(1.5)", 2),
    ("Round(1.7)", 2),
    ("Round(-1.1)", -1),
    ("Round(-1.5)", -2),
    ("rtrim(' h i ')", " h i"),
    ("sign(-7)", -1),
    ("sign(0)", 0),
    ("sign(13)", 1),
    ("sin(0)", 0),
    ("sinh(2.3)", Decimal("4.936961805545957")),
    ("substring('012345', 0)", "012345"),
    ("substring('012345', 2)", "2345"),
    ("substring('012345', 2.745)", "2345"),
    ("substring(123, 2)", "3"),
    ("substring('012345', -1)", "012345"),
    ("substring(true, 1.2)", "rue"),
    ("substring(false, -2.411E247)", "false"),
    ("substring('012345', 1, 3)", "12"),
    ("substring('012345', -50, 50)", "012345"),
    ("substring('012345', 3, 1)", ""),
    ("sql_version()", "2016-03-23"),
    ("sqrt(9)", 3),  # 3.0 in the guide
    ("startswith('ranger','ran')", True),
    ("tan(3)", Decimal("-0.1425465430742778")),
    ("tanh(2.3)", Decimal("0.9800963962661914")),
    ("Trim(' hi ')", "hi"),
    ("trunc(2.3, 0)", 2),
    ("trunc(2.3123, 2)", Decimal("2.31")),
    ("trunc(2.888, 2)", Decimal("2.88")),
    ("trunc(2.00, 5)", 2),
    ("upper('hello')", "HELLO"),
    ("upper(['hello'])", '["HELLO"]'),
    ("timestamp()", 1481825251155),
    ("topic()", "things/myThings/thingOne"),
    ("topic(1)", "things"),
]


@pytest.mark.parametrize(("expression", "expected"), GUIDE_EXAMPLES)
def test_guide_function_examples_iot_sql_functions(expression: str, expected: Any) -> None:
    result = ev(expression)
    assert result == expected
    assert type(result) is type(expected)


def test_concat_without_arguments_is_undefined_iot_sql_functions() -> None:
    assert ev("concat()") is UNDEFINED


def test_exp_of_one_is_e_iot_sql_functions() -> None:
    assert math.isclose(float(ev("exp(1)")), math.e)


def test_ln_of_e_iot_sql_functions() -> None:
    assert ev(f"ln({math.e!r})") == 1


def test_abs_table_iot_sql_functions() -> None:
    assert ev("abs(-2.5)") == Decimal("2.5")
    assert ev("abs('-3')") == 3
    for bad in ("abs(true)", "abs([1])", "abs({'a':1})", "abs(NULL)", "abs(missing)"):
        assert ev(bad) is UNDEFINED, bad


def test_sqrt_of_negative_is_undefined_iot_sql_functions() -> None:
    assert ev("sqrt(-1)") is UNDEFINED  # imaginary results are Undefined


def test_endswith_with_null_is_undefined_iot_sql_functions() -> None:
    assert ev("endswith(NULL, 'a')") is UNDEFINED
    assert ev("startswith('a', missing)") is UNDEFINED


def test_get_out_of_bounds_is_undefined_iot_sql_functions() -> None:
    assert ev("get(['a'], 1)") is UNDEFINED
    assert ev("get(['a'], -1)") is UNDEFINED
    assert ev("get(5, 0)") is UNDEFINED


def test_cast_tables_iot_sql_functions() -> None:
    assert ev("cast(2.7 AS Int)") == 2  # rounded down
    assert ev("cast('5E-12' AS Decimal)") == Decimal("5E-12")
    assert ev("cast(0 AS Boolean)") is False
    assert ev("cast(3.5 AS Bool)") is True
    assert ev("cast('TRUE' AS Boolean)") is True
    assert ev("cast('yes' AS Boolean)") is UNDEFINED
    assert ev("cast(12 AS String)") == "12"
    assert ev("cast([1, 'a'] AS String)") == '[1,"a"]'
    assert ev("cast(NULL AS String)") is UNDEFINED
    assert ev("cast({'a': true} AS varchar)") == '{"a":true}'
    assert ev("cast(false AS Decimal)") == 0


def test_cast_unknown_type_is_a_syntax_error_iot_sql_functions() -> None:
    with pytest.raises(SqlSyntaxError, match="unknown type"):
        parse("SELECT cast(a AS Float) FROM 't'")


def test_decode_base64_json_is_addressable_iot_sql_functions() -> None:
    payload = {"encoded_temp": "eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg=="}
    assert ev('decode(encoded_temp,"base64").temperature', payload) == 33


def test_decode_non_json_returns_string_and_bad_input_null_iot_sql_functions() -> None:
    text = base64.b64encode(b"hello world").decode()
    assert ev(f"decode('{text}', 'base64')") == "hello world"
    assert ev("decode('***', 'base64')") is None


def test_encode_star_is_base64_of_raw_payload_iot_sql_functions() -> None:
    raw = bytes([0, 255, 1, 2, 128])
    assert ev("encode(*, 'base64')", raw) == base64.b64encode(raw).decode()
    json_bytes = b'{"a": 1.50}'  # the original bytes, not a re-serialization
    assert ev("encode(*, 'base64')", json_bytes) == base64.b64encode(json_bytes).decode()


def test_clientid_principal_and_defaults_iot_sql_functions() -> None:
    assert ev("clientid()") == "n/a"  # not sent over MQTT
    assert ev("principal()") is UNDEFINED
    assert ev("clientid()", clientid="dev-001") == "dev-001"
    thumbprint = "ba67293af50bf2506f5f93469686da660c7c844e7b3950bfb16813e0d31e9373"
    assert ev("principal()", principal=thumbprint) == thumbprint


def test_topic_out_of_range_and_basic_ingest_iot_sql_functions() -> None:
    assert ev("topic(4)") is UNDEFINED
    assert ev("topic(0)") is UNDEFINED
    ingest = "$aws/rules/BuildingManager/Buildings/Building5/Floor2/Room201/Lights"
    assert ev("topic()", topic=ingest) == "Buildings/Building5/Floor2/Room201/Lights"
    assert ev("topic(3)", topic=ingest) == "Floor2"


def test_newuuid_is_injected_iot_sql_functions() -> None:
    assert ev("newuuid()", newuuid=lambda: "123a4567-b89c-12d3-e456-789012345000") == (
        "123a4567-b89c-12d3-e456-789012345000"
    )


def test_parse_time_iot_sql_functions() -> None:
    expression = "parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", 100000000, 'America/Belize')"
    assert ev(expression) == "1970.01.01 AD at 21:46:40 CST"
    assert ev("parse_time('yyyy', timestamp(), 'UTC')") == "2016"
    assert ev("parse_time('yyyy-MM-dd HH:mm:ss.SSS', 1481825251155)") == ("2016-12-15 18:07:31.155")
    assert ev("parse_time('yyyy', 0, 'Not/AZone')") is UNDEFINED


def test_external_functions_are_refused_at_parse_time() -> None:
    with pytest.raises(SqlSyntaxError, match="another AWS service"):
        parse("SELECT get_thing_shadow('t', 'r') AS s FROM 't'")


def test_unknown_function_is_a_syntax_error_with_position() -> None:
    with pytest.raises(SqlSyntaxError) as err:
        parse("SELECT frobnicate(a) FROM 't'")
    assert err.value.position == 7
