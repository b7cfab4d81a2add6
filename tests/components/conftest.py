import pytest

from components.core.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
