from __future__ import annotations

from collections.abc import Callable

import pytest

from components.core.envelope import Record

RecordFactory = Callable[..., list[Record]]


def _make_records(
    device: str = "dev-001",
    stream: str = "env/bme280@0x76",
    cls: str = "aggregate",
    count: int = 20,
    start_seq: int = 1,
) -> list[Record]:
    return [
        Record(
            device=device,
            stream=stream,
            seq=start_seq + i,
            cls=cls,
            mono_ns=1_000_000 * i,
            wall_ms=1_795_000_000_000 + 1000 * i,
            clock_synced=True,
            payload={"temperature_c": 21.5 + i / 10, "humidity_pct": 40 + i},
        )
        for i in range(count)
    ]


@pytest.fixture
def make_records() -> RecordFactory:
    return _make_records
