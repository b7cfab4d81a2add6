"""Run every vector file in vectors/ (guide examples now, recordings from real AWS later)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloud.iot_sql import Message, parse

VECTORS = Path(__file__).parent / "vectors"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(VECTORS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                cases.append(pytest.param(json.loads(line), id=f"{path.stem}:{number}"))
    return cases


@pytest.mark.parametrize("case", _cases())
def test_vector(case: dict[str, Any]) -> None:
    if "payload_b64" in case:
        payload = base64.b64decode(case["payload_b64"])
    else:
        payload = json.dumps(case["payload"]).encode()
    message = Message(
        topic=case["topic"],
        payload=payload,
        timestamp_ms=case["timestamp_ms"],
        clientid=case.get("clientid", "n/a"),
        principal=case.get("principal"),
    )
    out = parse(case["sql"]).evaluate(message)
    assert (out is not None) == case["fires"], case["source"]
    if out is None:
        return
    if "expected_b64" in case:
        assert out.payload_bytes() == base64.b64decode(case["expected_b64"])
    else:
        got = json.loads(out.payload_bytes(), parse_float=Decimal)
        assert got == json.loads(json.dumps(case["expected"]), parse_float=Decimal)


def test_there_are_vectors() -> None:
    assert len(_cases()) >= 19
