"""The polling helper every test uses (tests/waiting.py)."""

from __future__ import annotations

import itertools

import pytest
from waiting import wait_for


def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter) >= 3 and "done", interval_s=0, what="three") == "done"


def test_a_timeout_names_what_was_awaited_and_the_last_value_seen() -> None:
    arrived: list[str] = []
    with pytest.raises(AssertionError, match=r"0.05 s waiting for a message; last seen: \[\]"):
        wait_for(lambda: arrived, timeout_s=0.05, what="a message")
    with pytest.raises(AssertionError, match=r"waiting for .*lambda: \[\]\.pop\(\) if False"):
        wait_for(lambda: [].pop() if False else 0, timeout_s=0.01)


def test_ignored_errors_count_as_not_yet_and_others_propagate() -> None:
    attempts = itertools.count()

    def connect() -> str:
        if next(attempts) < 2:
            raise ConnectionRefusedError("not listening yet")
        return "connected"

    assert (
        wait_for(connect, interval_s=0, what="a connection", ignore=(ConnectionRefusedError,))
        == "connected"
    )

    def refused() -> None:
        raise ConnectionRefusedError("not listening yet")

    with pytest.raises(AssertionError, match="last seen: ConnectionRefusedError"):
        wait_for(refused, timeout_s=0.01, what="never", ignore=(ConnectionRefusedError,))
    with pytest.raises(KeyError):
        wait_for(lambda: {}["missing"], what="a key")
