"""The shipped schemas, and the compiled fast path against jsonschema (the reference)."""

from __future__ import annotations

import copy

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.http_ingest.schemas import RecordSchema, builtin_schemas, check_schemas

SHIPPED = builtin_schemas()
VALID = {
    "pos_sale": {
        "receipt_id": "r-1",
        "total_cents": 450,
        "currency": "EUR",
        "payment": "card",
        "operator_id": "op-3",
        "sold_wall_ms": 1_767_225_600_000,
        "lines": [
            {"sku": "bun", "quantity": 3, "unit_price_cents": 150},
            {"sku": "tea", "quantity": 0.5, "unit_price_cents": 0},
        ],
    },
    "gate_passage": {
        "gate_id": "north-2",
        "direction": "in",
        "credential": "badge-9",
        "credential_kind": "badge",
        "granted": True,
        "passed_wall_ms": 5,
    },
    "plc_counter": {"counter": "parts", "value": 0, "unit": "pcs", "line": "L1", "reset": False},
}
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=70)
    | st.sampled_from(["EUR", "eur", "", "in", "out", "card", "badge"])
)
json_values = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=8,
)


def fast_says_valid(rs: RecordSchema, data) -> bool:
    try:
        rs._fast(data)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@st.composite
def mutated(draw, rtype):
    """A valid example with a few edits anywhere in it: replace, delete or add a value."""
    doc = copy.deepcopy(VALID[rtype])
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while True:  # walk down to a random container
            kids = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            kids = [(k, v) for k, v in kids if isinstance(v, dict | list) and v]
            if not kids or draw(st.booleans()):
                break
            node = draw(st.sampled_from(kids))[1]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[draw(st.text(max_size=12))] = draw(json_values)
            else:
                node.append(draw(json_values))
        elif action == "delete":
            del node[draw(st.sampled_from(keys))]
        else:
            node[draw(st.sampled_from(keys))] = draw(json_values)
    return doc


def test_the_examples_are_valid_for_both():
    for rtype, doc in VALID.items():
        rs = RecordSchema(SHIPPED[rtype])
        assert rs._fast is not None and fast_says_valid(rs, doc)
        assert rs._reference.is_valid(doc) and rs.errors(doc) == []


@pytest.mark.parametrize("rtype", sorted(VALID))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
@pytest.mark.slow
def test_fast_path_and_reference_agree(rtype, data):
    rs = RecordSchema(SHIPPED[rtype])
    doc = data.draw(mutated(rtype))
    reference = rs._reference.is_valid(doc)
    assert fast_says_valid(rs, doc) == reference
    assert (rs.errors(doc) == []) == reference
    assert rs.disagreements == 0


def test_a_2020_12_schema_uses_the_reference_alone():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array",
        "prefixItems": [{"type": "integer"}],
    }
    rs = RecordSchema(check_schemas({"t": schema})["t"])
    assert rs._fast is None
    assert rs.errors(["not an integer"]) and rs.errors([1]) == []


def test_the_fast_path_does_not_write_defaults_into_the_data():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"a": {"type": "integer", "default": 5}},
    }
    doc: dict = {}
    assert RecordSchema(schema).errors(doc) == [] and doc == {}
