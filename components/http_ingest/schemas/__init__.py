"""JSON schemas of the record types: the shipped examples plus those from the configuration.

A schema describes a record's `data` object. Schemas are checked when the configuration is
read (a broken one rejects the configuration), then compiled once into validators.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

TYPE_RE = re.compile(r"^[a-z0-9_]{1,64}$")  # the <kind> part of a stream name
_HERE = Path(__file__).parent


def builtin_schemas() -> dict[str, dict[str, Any]]:
    """The shipped examples, by record type (the file name)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(_HERE.glob("*.json"))}


def check_schemas(value: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Configuration check: every key a valid type name, every value a valid schema."""
    out: dict[str, dict[str, Any]] = {}
    for rtype, schema in value.items():
        if not isinstance(rtype, str) or not TYPE_RE.match(rtype):
            raise ValueError(f"record type {rtype!r} is not [a-z0-9_]{{1,64}}")
        if not isinstance(schema, Mapping):
            raise ValueError(f"{rtype}: schema is not an object")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"{rtype}: invalid JSON schema: {exc.message}") from None
        out[rtype] = dict(schema)
    return out


def compile_validators(extra: Mapping[str, Any]) -> dict[str, Draft202012Validator]:
    """Validators for the built-in types overlaid with the configured ones."""
    schemas = {**builtin_schemas(), **check_schemas(extra)}
    return {rtype: Draft202012Validator(schema) for rtype, schema in schemas.items()}
