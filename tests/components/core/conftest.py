import pytest

from components.core.clock import ManualClock
from components.core.log import Log


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def log(tmp_path, clock):
    lg = Log.open(tmp_path / "log.db", device="dev-001", clock=clock, free_floor_bytes=0)
    yield lg
    lg.close()
