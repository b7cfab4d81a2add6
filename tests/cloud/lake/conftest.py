from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.lake.store import Lake
from components.core.clock import ManualClock
from components.core.envelope import Record

DAY_MS = 86_400_000
T0_MS = 1_795_000_000_000  # 2026-11-18; the lake clock starts one day later


def _make_records(
    device: str = "dev-001",
    stream: str = "env/bme280@0x76",
    cls: str = "aggregate",
    count: int = 20,
    start_seq: int = 1,
    wall_ms: int = T0_MS,
    step_ms: int = 60_000,
    synced: bool = True,
) -> list[Record]:
    return [
        Record(
            device=device,
            stream=stream,
            seq=start_seq + i,
            cls=cls,
            mono_ns=1_000_000 * i,
            wall_ms=wall_ms + step_ms * i,
            clock_synced=synced,
            payload={"temperature_c": round(21.5 + i / 10, 2), "humidity_pct": 40 + i},
        )
        for i in range(count)
    ]


@pytest.fixture
def make_records() -> Callable[..., list[Record]]:
    return _make_records


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_ms=T0_MS + DAY_MS)


@pytest.fixture
def lake(tmp_path: Path, clock: ManualClock) -> Iterator[Lake]:
    with Lake(tmp_path / "lake", clock=clock) as opened:
        yield opened
