"""JSON schemas of the record types: the shipped examples plus those from the configuration.

A schema describes a record's `data` object. Schemas are checked when the configuration is
read (a broken one rejects the configuration), then compiled once.

Two validators, one authority: jsonschema (the reference implementation) decides and gives the
reasons. A schema that declares draft-04, -06 or -07 is also compiled to Python code by
fastjsonschema, which answers "valid" about forty times faster; only when it says "invalid"
does jsonschema run, and jsonschema's verdict stands. Other drafts (2020-12 and schemas without
`$schema`) use jsonschema alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

log = logging.getLogger("floorline.http_ingest.schemas")

TYPE_RE = re.compile(r"^[a-z0-9_]{1,64}$")  # the <kind> part of a stream name
MAX_ERRORS = 10
_HERE = Path(__file__).parent
_FAST_DRAFTS = {
    f"http://json-schema.org/draft-0{n}/schema{tail}" for n in (4, 6, 7) for tail in ("", "#")
}


class RecordSchema:
    """The compiled schema of one record type."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._reference = validator_for(schema)(schema)
        self._fast = None
        if schema.get("$schema") in _FAST_DRAFTS:
            # No defaults written into the data, no format checks (jsonschema does neither).
            self._fast = fastjsonschema.compile(dict(schema), use_default=False, use_formats=False)
        self.disagreements = 0

    def errors(self, data: Any) -> list[str]:
        """Why `data` is invalid (at most MAX_ERRORS reasons); empty if it is valid."""
        if self._fast is not None:
            try:
                self._fast(data)
                return []
            except fastjsonschema.JsonSchemaValueException:
                pass  # jsonschema decides, and says why
        found = sorted(self._reference.iter_errors(data), key=lambda e: list(e.absolute_path))
        if not found and self._fast is not None:
            self.disagreements += 1
            log.warning("event=schema_validators_disagree verdict=valid")
        return [
            "data" + "".join(f"[{p!r}]" for p in e.absolute_path) + f": {e.message[:200]}"
            for e in found[:MAX_ERRORS]
        ]


def builtin_schemas() -> dict[str, dict[str, Any]]:
    """The shipped examples, by record type (the file name)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(_HERE.glob("*.json"))}


_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def _remote_reference(node: Any, depth: int = 0) -> str | None:
    """The first reference in `node` that leaves the schema itself (a URL, a file, another
    document), or a nested `$id` that would move the base elsewhere; None if there is none."""
    if depth > 200:
        return "a schema nested over 200 levels"
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in _REF_KEYS and isinstance(value, str) and not value.startswith("#"):
                return f"{key} {value!r}"
            if key == "$id" and depth > 0 and isinstance(value, str) and ":" in value:
                return f"$id {value!r}"
            found = _remote_reference(value, depth + 1)
            if found:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _remote_reference(item, depth + 1)
            if found:
                return found
    return None


def check_schemas(value: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Configuration check: every key a valid type name, every value a valid schema whose
    references are local ("#/..."): a remote one would make the gateway fetch a URL while it
    checks its configuration (and hang on a silent endpoint)."""
    out: dict[str, dict[str, Any]] = {}
    for rtype, schema in value.items():
        if not isinstance(rtype, str) or not TYPE_RE.fullmatch(rtype):
            raise ValueError(f"record type {rtype!r} is not [a-z0-9_]{{1,64}}")
        if not isinstance(schema, Mapping):
            raise ValueError(f"{rtype}: schema is not an object")
        remote = _remote_reference(schema)
        if remote is not None:
            raise ValueError(f"{rtype}: only local references (#/...) are allowed, not {remote}")
        try:
            validator_for(schema).check_schema(schema)
            RecordSchema(schema)
        except SchemaError as exc:
            raise ValueError(f"{rtype}: invalid JSON schema: {exc.message}") from None
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise ValueError(f"{rtype}: schema cannot be compiled: {exc}") from None
        out[rtype] = dict(schema)
    return out


def compile_validators(extra: Mapping[str, Any]) -> dict[str, RecordSchema]:
    """Validators for the built-in types overlaid with the configured ones."""
    schemas = {**builtin_schemas(), **check_schemas(extra)}
    return {rtype: RecordSchema(schema) for rtype, schema in schemas.items()}
