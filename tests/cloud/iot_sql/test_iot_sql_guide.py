"""Examples taken from the AWS IoT Core developer guide, "AWS IoT SQL reference" chapter.

Each test names the guide page (iot-sql-*.html) its input and expected output come from.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from cloud.iot_sql import UNDEFINED, Message, parse, parse_template

TOPIC = "topic/subtopic"


def run(sql: str, payload: Any, topic: str = TOPIC, **context: Any) -> Any:
    """The outgoing payload as JSON (None when the rule does not fire)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message = Message(
        topic=topic, payload=data, timestamp_ms=context.pop("ts", 1481825251155), **context
    )
    output = parse(sql).evaluate(message)
    if output is None:
        return None
    raw = output.payload_bytes()
    return json.loads(raw, parse_float=Decimal) if raw else ""


def value_of(expression: str, payload: Any = None) -> Any:
    """The value of one expression, through SELECT VALUE (Undefined stays Undefined)."""
    data = json.dumps(payload if payload is not None else {}).encode()
    query = parse(f"SELECT VALUE {expression} FROM 't'")
    return query.project(Message(topic="t", payload=data, timestamp_ms=0)).value


# ---- iot-sql-select.html -------------------------------------------------------------------

COLOR = {"color": "red", "temperature": 50}


def test_select_star_returns_whole_payload_iot_sql_select() -> None:
    assert run("SELECT * FROM 'topic/subtopic'", COLOR) == COLOR


def test_select_key_iot_sql_select() -> None:
    assert run("SELECT color FROM 'topic/subtopic'", COLOR) == {"color": "red"}


def test_select_as_renames_iot_sql_select() -> None:
    assert run("SELECT color AS my_color FROM 'topic/subtopic'", COLOR) == {"my_color": "red"}


def test_select_multiple_items_iot_sql_select() -> None:
    sql = "SELECT color as my_color, temperature as fahrenheit FROM 'topic/subtopic'"
    assert run(sql, COLOR) == {"my_color": "red", "fahrenheit": 50}


def test_select_star_plus_item_adds_to_payload_iot_sql_select() -> None:
    sql = "SELECT *, 15 as speed FROM 'topic/subtopic'"
    assert run(sql, COLOR) == {"color": "red", "temperature": 50, "speed": 15}


def test_select_value_outputs_non_object_iot_sql_select() -> None:
    raw = parse("SELECT VALUE color FROM 'topic/subtopic'").evaluate(
        Message(TOPIC, json.dumps(COLOR).encode(), 0)
    )
    assert raw is not None and raw.payload_bytes() == b'"red"'


def test_dot_drills_into_nested_object_iot_sql_select() -> None:
    payload = {"color": {"red": 255, "green": 0, "blue": 0}, "temperature": 50}
    assert run("SELECT color.red as red_value FROM 'topic/subtopic'", payload) == {"red_value": 255}


def test_arithmetic_and_upper_iot_sql_select() -> None:
    sql = (
        "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color "
        "FROM 'topic/subtopic'"
    )
    assert run(sql, COLOR) == {"celsius": 10, "my_color": "RED"}


# ---- iot-rule-sql-version.html -------------------------------------------------------------


def test_select_value_top_level_array_iot_rule_sql_version() -> None:
    payload = {"a": {"b": "c"}, "arr": [1, 2, 3, 4]}
    assert run("SELECT VALUE arr FROM 'topic'", payload, topic="topic") == [1, 2, 3, 4]


# ---- iot-sql-from.html ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "temperature", "fires"),
    [
        ("topic/subtopic", 50, True),
        ("topic/subtopic-2", 60, True),
        ("topic/subtopic-3/details", 70, True),
        ("topic-2/subtopic-x", 80, False),
    ],
)
def test_hash_wildcard_iot_sql_from(topic: str, temperature: int, fires: bool) -> None:
    out = run("SELECT temperature AS t FROM 'topic/#'", {"temperature": temperature}, topic)
    assert out == ({"t": temperature} if fires else None)


@pytest.mark.parametrize(
    ("topic", "fires"),
    [
        ("topic/subtopic", True),
        ("topic/subtopic-2", True),
        ("topic/subtopic-3/details", False),  # more levels than the filter
        ("topic-2/subtopic-x", False),  # does not start with topic
    ],
)
def test_plus_wildcard_iot_sql_from(topic: str, fires: bool) -> None:
    out = run("SELECT temperature AS t FROM 'topic/+'", {"temperature": 50}, topic)
    assert (out is not None) == fires


def test_exact_filter_does_not_match_sibling_iot_sql_from() -> None:
    assert (
        run(
            "SELECT temperature AS t FROM 'topic/subtopic'", {"temperature": 50}, "topic/subtopic-2"
        )
        is None
    )


# ---- iot-sql-where.html / iot-sql-reference.html -------------------------------------------


def test_where_false_means_no_payload_iot_sql_where() -> None:
    sql = "SELECT color AS my_color FROM 'topic/subtopic' WHERE temperature > 50 AND color <> 'red'"
    assert run(sql, {"color": "red", "temperature": 40}) is None


def test_where_true_iot_sql_reference() -> None:
    sql = "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50"
    assert run(sql, {"color": "red", "temperature": 100}) == {"rgb": "red"}


def test_where_cannot_see_select_aliases_iot_sql_where() -> None:
    sql = "SELECT temperature AS t FROM 'topic/subtopic' WHERE t > 1"
    assert run(sql, {"temperature": 100}) is None  # `t` is Undefined in WHERE


def test_where_non_json_payload_decode_encode_iot_sql_where() -> None:
    sql = (
        "SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 'topic/subtopic' "
        "WHERE decode(encode(*, 'base64'), 'base64') > 50"
    )
    assert run(sql, b"80") == {"value": 80}


# ---- iot-sql-case.html ---------------------------------------------------------------------

CASE_SQL = (
    "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' "
    "WHEN 'red' THEN 'stop' ELSE 'you are not at a stop light' END as instructions "
    "FROM 'topic/subtopic'"
)


def test_case_statement_iot_sql_case() -> None:
    assert run(CASE_SQL, {"color": "yellow"}) == {"instructions": "caution"}


def test_case_else_iot_sql_case() -> None:
    assert run(CASE_SQL, {"color": "blue"}) == {"instructions": "you are not at a stop light"}


def test_case_on_undefined_is_undefined_iot_sql_case() -> None:
    assert run(CASE_SQL, {"colour": "red"}) == {}


def test_case_without_else_and_no_match_is_undefined_iot_sql_case() -> None:
    assert value_of("CASE 3 WHEN 1 THEN 'a' END") is UNDEFINED


# ---- iot-sql-json.html ---------------------------------------------------------------------


def test_dotted_alias_creates_nesting_iot_sql_json() -> None:
    payload = {"foo": {"bar": "RED", "bar1": "GREEN", "bar2": "BLUE"}}
    assert run("SELECT foo.bar AS bar.baz FROM 'topic/subtopic'", payload) == {
        "bar": {"baz": "RED"}
    }


def test_get_for_hyphen_and_numeric_keys_iot_sql_json() -> None:
    payload = {"mydata": {"item2": {"0": {"my-key": "myValue"}}}}
    sql = 'SELECT * from \'iot/rules\' WHERE get(get(get(mydata,"item2"),"0"),"my-key") = "myValue"'
    assert run(sql, payload, topic="iot/rules") == payload


def test_function_on_attribute_md5_iot_sql_json() -> None:
    payload = {
        "deviceid": "iot123",
        "temp": 54.98,
        "humidity": 32.43,
        "coords": {"latitude": 47.615694, "longitude": -122.3359976},
    }
    out = run("SELECT temp, md5(deviceid) AS hashed_id FROM 'topic/#'", payload)
    assert out == {"temp": Decimal("54.98"), "hashed_id": "e37f81fb397e595c4aeb5645b8cbbbd1"}


def test_star_on_non_json_returns_raw_bytes_iot_sql_json() -> None:
    data = bytes(range(256))
    out = parse("SELECT * FROM 'topic/subtopic'").evaluate(Message(TOPIC, data, 0))
    assert out is not None and out.payload_bytes() == data


# ---- iot-sql-literals.html -----------------------------------------------------------------


def test_object_literal_with_get_iot_sql_literals() -> None:
    sql = (
        "SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long "
        "FROM 'topic/subtopic'"
    )
    out = run(sql, {"lat_long": [47.606, -122.332]})
    assert out == {"lat_long": {"latitude": Decimal("47.606"), "longitude": Decimal("-122.332")}}


def test_array_literal_iot_sql_literals() -> None:
    out = run(
        "SELECT [lat,long] as lat_long FROM 'topic/subtopic'", {"lat": 47.696, "long": -122.332}
    )
    assert out == {"lat_long": [Decimal("47.696"), Decimal("-122.332")]}


# ---- iot-sql-nested-queries.html -----------------------------------------------------------

SENML = {
    "e": [
        {"n": "temperature", "u": "Cel", "t": 1234, "v": 22.5},
        {"n": "light", "u": "lm", "t": 1235, "v": 135},
        {"n": "acidity", "u": "pH", "t": 1235, "v": 7},
    ]
}


def test_nested_select_value_iot_sql_nested_queries() -> None:
    out = run("SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'", SENML, "my/topic")
    assert out == {"sensors": ["temperature", "light", "acidity"]}


def test_nested_select_with_where_iot_sql_nested_queries() -> None:
    sql = "SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'"
    assert run(sql, SENML, "my/topic") == {"temperature": [{"v": Decimal("22.5")}]}


def test_nested_select_flattened_iot_sql_nested_queries() -> None:
    sql = "SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'"
    assert run(sql, SENML, "topic") == {"temperature": Decimal("22.5")}


# ---- iot-sql-data-types.html ---------------------------------------------------------------


def test_null_keyword_creates_null_iot_sql_data_types() -> None:
    assert run("SELECT NULL AS n FROM 'topic/subtopic'", {}) == {"n": None}


def test_undefined_left_out_null_kept_iot_sql_data_types() -> None:
    out = run("SELECT foo, bar FROM 'topic/subtopic'", {"foo": None})
    assert out == {"foo": None}


def test_undefined_alone_serializes_as_empty_string_iot_sql_data_types() -> None:
    out = parse("SELECT VALUE bar FROM 't'").evaluate(Message("t", b'{"foo":null}', 0))
    assert out is not None and out.payload_bytes() == b""


def test_whole_number_decimal_is_int_in_v2_iot_sql_data_types() -> None:
    assert run("SELECT v FROM 'topic/subtopic'", {"v": 10.0}) == {"v": 10}
    assert type(value_of("v", {"v": 10.0})) is int
    assert value_of("10.0") == 10 and type(value_of("10.0")) is int


def test_abs_of_numeric_string_iot_sql_data_types() -> None:
    # 'abs("-5.123")' is treated as 'abs(-5.123)'
    assert value_of("abs('-5.123')") == Decimal("5.123")


@pytest.mark.parametrize("text", ["0", "-1.2", "5E-12"])
def test_strings_that_convert_to_decimal_iot_sql_data_types(text: str) -> None:
    assert value_of(f"'{text}' * 1") == Decimal(text)


@pytest.mark.parametrize("text", ["+1", ".5", "5.", "1e+5", "abc", ""])
def test_strings_that_do_not_convert_iot_sql_data_types(text: str) -> None:
    assert value_of(f"'{text}' * 1") is UNDEFINED


def test_boolean_to_decimal_is_undefined_without_cast_iot_sql_data_types() -> None:
    assert value_of("true * 1") is UNDEFINED
    assert value_of("cast(true AS Decimal)") == 1


def test_function_with_wrong_argument_count_is_undefined_iot_sql_data_types() -> None:
    assert value_of("upper('a', 'b')") is UNDEFINED


# ---- binary-payloads.html ------------------------------------------------------------------


def test_encode_star_with_added_data_on_binary_binary_payloads() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00"
    out = run("SELECT encode(*, 'base64') AS data, timestamp() AS ts FROM 'topic/subtopic'",
              data, ts=1700000000000)  # fmt: skip
    assert out == {"data": "iVBORw0KGgoA", "ts": 1700000000000}


def test_star_with_where_on_binary_binary_payloads() -> None:
    data = b"\x00\x01\x02"
    sql = "SELECT * FROM 'topic/subtopic' WHERE timestamp() % 12 = 0"
    fired = parse(sql).evaluate(Message(TOPIC, data, 1200))
    assert fired is not None and fired.payload_bytes() == data
    assert parse(sql).evaluate(Message(TOPIC, data, 1201)) is None


def test_where_on_key_of_binary_payload_does_not_fire_binary_payloads() -> None:
    sql = "SELECT * FROM 'topic/subtopic' WHERE device_type = 'thermostat'"
    assert parse(sql).evaluate(Message(TOPIC, b"\xff\xfe", 0)) is None  # key is Undefined


def test_data_added_to_empty_payload_binary_payloads() -> None:
    sql = "SELECT *, principal() as principal, timestamp() as time FROM 'topic/subtopic'"
    out = run(sql, b"", ts=5, principal="ABCD1EFG3HIJK2LMNOP5:my-session-name")
    assert out == {"principal": "ABCD1EFG3HIJK2LMNOP5:my-session-name", "time": 5}


def test_star_as_alias_nests_the_payload() -> None:
    out = run("SELECT * AS message, topic() AS t FROM 'topic/subtopic'", COLOR)
    assert out == {"message": COLOR, "t": TOPIC}


# ---- iot-substitution-templates.html -------------------------------------------------------


def test_substitution_template_example_iot_substitution_templates() -> None:
    payload = {"deviceid": "iot123", "temp": 54.98, "humidity": 32.43,
               "coords": {"latitude": 47.615694, "longitude": -122.3359976}}  # fmt: skip
    message = Message("my/iot/topic", json.dumps(payload).encode(), 1579637878451)
    out = parse("SELECT *, timestamp() AS timestamp FROM 'my/iot/topic'").evaluate(message)
    assert out is not None
    assert json.loads(out.payload_bytes(), parse_float=Decimal)["timestamp"] == 1579637878451
    assert parse_template("${topic()}/republish").render(message) == "my/iot/topic/republish"


def test_substitution_templates_cannot_see_aliases_iot_substitution_templates() -> None:
    message = Message("a/b", b'{"temp": 5}', 0)
    assert parse_template("x-${t}-${temp}").render(message) == "x--5"


def test_error_action_key_template_rule_error_handling() -> None:
    key = "${replace(topic(), '/', '-') + '-' + timestamp() + '-' + newuuid()}"
    message = Message("error/action", b"{}", 42, newuuid=lambda: "u-1")
    assert parse_template(key).render(message) == "error-action-42-u-1"
