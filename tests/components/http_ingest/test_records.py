"""Body parsing and record checks, from bytes alone (no server)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core.envelope import validate_stream
from components.http_ingest.records import (
    Accepted,
    BodyError,
    Rejected,
    check_record,
    foreign_devices,
    groups_for,
    parse_body,
    stream_name,
)
from components.http_ingest.schemas import builtin_schemas, compile_validators

V = compile_validators({})
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


def rec(**kw):
    base = {"device": "plc-3", "type": "plc_counter", "data": {"counter": "parts", "value": 5}}
    base.update(kw)
    return base


def test_a_number_too_long_to_read_is_a_body_error_not_a_crash():
    with pytest.raises(BodyError, match="number"):
        parse_body(b'{"device": "plc-3", "data": {"n": ' + b"9" * 5000 + b"}}", 10)


def test_three_body_forms():
    one = rec()
    assert parse_body(json.dumps(one).encode(), 10) == [one]
    assert parse_body(json.dumps([one, one]).encode(), 10) == [one, one]
    assert parse_body(json.dumps({"records": [one]}).encode(), 10) == [one]


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b'{"records": {}}', b'{"records": [], "x": 1}', b"[1,2,3,4]", b"\x80"],
)
def test_bad_bodies_are_body_errors(raw):
    with pytest.raises(BodyError):
        parse_body(raw, 3)


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_body_error(raw):
    try:
        out = parse_body(raw, 50)
    except BodyError:
        return
    assert isinstance(out, list) and 1 <= len(out) <= 50


@given(json_values)
def test_any_json_parses_or_raises_body_error(value):
    try:
        out = parse_body(json.dumps(value).encode(), 50)
    except BodyError:
        return
    assert isinstance(out, list)


TYPES = st.sampled_from(["plc_counter", "pos_sale", "gate_passage", "x", "pos_sale\n"]) | st.text(
    max_size=12
)


@given(json_values, TYPES, st.booleans())
@settings(max_examples=300)
def test_check_record_never_raises_and_accepts_only_storable_records(data, rtype, unknown_ok):
    for obj in (data, rec(data=data, type=rtype), rec(id=data), rec(device=data)):
        out = check_record(0, obj, V, unknown_ok)
        if isinstance(out, Accepted):
            validate_stream(out.stream)
            json.dumps(out.new_record().payload, allow_nan=False).encode("utf-8")
        else:
            assert isinstance(out, Rejected) and out.errors


def test_each_shipped_example_schema_accepts_its_example_and_names_what_is_wrong():
    examples = {
        "pos_sale": {
            "receipt_id": "r1",
            "total_cents": 450,
            "currency": "EUR",
            "payment": "card",
            "lines": [{"sku": "bun", "quantity": 3, "unit_price_cents": 150}],
        },
        "gate_passage": {"gate_id": "north-2", "direction": "out", "credential": "T-88"},
        "plc_counter": {"counter": "rejects", "value": 3, "line": "L2"},
    }
    assert set(builtin_schemas()) == set(examples)
    for rtype, data in examples.items():
        assert isinstance(check_record(0, rec(type=rtype, data=data), V, False), Accepted)
        broken = {**data, "surprise": 1}
        out = check_record(0, rec(type=rtype, data=broken), V, False)
        assert isinstance(out, Rejected) and "surprise" in out.errors[0]
    out = check_record(0, rec(type="gate_passage", data={"gate_id": "g", "direction": "up"}), V, 0)
    assert isinstance(out, Rejected)
    assert any("credential" in e for e in out.errors)
    assert any("direction" in e for e in out.errors)


def test_envelope_errors():
    cases = {
        "unknown keys": rec(extra=1),
        "'device'": rec(device="bad device!"),
        "'type'": rec(type="Pos-Sale"),
        "'id'": rec(id=""),
        "'data'": rec(data=[1]),
    }
    for needle, obj in cases.items():
        out = check_record(0, obj, V, True)
        assert isinstance(out, Rejected) and any(needle in e for e in out.errors), needle
    assert isinstance(check_record(0, rec(id="\ud800"), V, True), Rejected)
    # "$" would let a trailing newline through; names are matched whole.
    assert isinstance(check_record(0, rec(type="plc_counter\n"), V, True), Rejected)
    assert isinstance(check_record(0, rec(device="plc-3\n"), V, True), Rejected)
    lone = rec(type="blob", data={"s": "\udc80"})
    assert isinstance(check_record(0, lone, V, True), Rejected)  # SQLite could not store it


def test_stream_names_fit_the_envelope_for_every_valid_device_and_type():
    validate_stream(stream_name("a" * 64, "A" * 128))
    validate_stream(stream_name("pos_sale", "dev:1_x-Y"))


def test_foreign_devices():
    assert foreign_devices([rec(), rec(device="plc-4"), "x", {"device": 5}], "plc-3") == {"plc-4"}


def test_groups_keep_each_record_with_its_unit():
    acc = [check_record(i, rec(id=m), V, False) for i, m in enumerate(["a", None, "b", None])]
    by_key = groups_for(acc, "plc-3", "K", "digest")
    # A record's id keys it with or without an Idempotency-Key; the key holds the rest.
    assert [(g.key, [a.index for a in m]) for g, m in by_key] == [
        ("msg\x1fplc-3\x1fa", [0]),
        ("msg\x1fplc-3\x1fb", [2]),
        ("req\x1fplc-3\x1fK", [1, 3]),
    ]
    per_record = groups_for(acc, "plc-3", None, "digest")
    assert [(g.key, [a.index for a in m]) for g, m in per_record] == [
        ("msg\x1fplc-3\x1fa", [0]),
        ("msg\x1fplc-3\x1fb", [2]),
        (None, [1, 3]),
    ]
