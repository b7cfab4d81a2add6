"""The one way tests wait for something to happen: poll a condition until it holds.

`from waiting import wait_for` works in every test directory (pyproject puts tests/ on the
path). A timeout fails the test with what was awaited and the last value seen, never with a
bare "timed out".
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    *,
    timeout_s: float = 10.0,
    interval_s: float = 0.02,
    what: str | None = None,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    `what` names the awaited thing for the failure message (default: the condition's source
    line). An exception of a type in `ignore`
    counts as "not yet" (e.g. a connection refused before a server listens); any other
    propagates at once. The condition is always tried once more at the deadline.
    """
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        expired = time.monotonic() >= deadline
        try:
            value = condition()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if expired:
            raise AssertionError(
                f"timed out after {timeout_s:g} s waiting for "
                f"{what or _source(condition)}; "
                f"last seen: {last!r}"
            )
        time.sleep(interval_s)


def _source(condition: Callable[[], object]) -> str:
    try:
        return " ".join(inspect.getsource(condition).split())
    except (OSError, TypeError):
        return repr(condition)
