"""Every test that starts a process says so with a marker, checked here rather than remembered.

`make test-fast` deselects `slow`, `e2e`, `nucleus` and `device` tests and stays fast only if
no other test starts a process (a subprocess, a multiprocessing worker, a broker, a nucleus, a
browser). While a test without one of those markers runs (its fixtures included), starting a
process fails with a message that says which marker to add.
"""

from __future__ import annotations

import multiprocessing.process
import subprocess
from collections.abc import Generator
from typing import Any

import pytest

PROCESS_MARKERS = frozenset({"slow", "e2e", "nucleus", "device"})

_running: pytest.Item | None = None  # the test being set up, run or torn down


class UnmarkedProcessStart(AssertionError):
    pass


def _refuse_unmarked(what: str) -> None:
    item = _running
    if item is None or PROCESS_MARKERS & {m.name for m in item.iter_markers()}:
        return
    raise UnmarkedProcessStart(
        f"{item.nodeid} starts a process ({what}) but is not marked slow: add "
        "@pytest.mark.slow (or e2e) to the test, or pytestmark to its module, so that "
        "make test-fast stays fast"
    )


def pytest_configure(config: pytest.Config) -> None:
    execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]
    start = multiprocessing.process.BaseProcess.start

    def checked_execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any) -> None:
        command = args if isinstance(args, str | bytes) else " ".join(map(str, args))
        _refuse_unmarked(f"subprocess {command[:80]!r}")
        execute_child(self, args, *rest)

    def checked_start(self: multiprocessing.process.BaseProcess) -> None:
        _refuse_unmarked(f"multiprocessing {self.name}")
        start(self)

    subprocess.Popen._execute_child = checked_execute_child  # type: ignore[attr-defined]
    multiprocessing.process.BaseProcess.start = checked_start  # type: ignore[method-assign]

    def restore() -> None:
        subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]
        multiprocessing.process.BaseProcess.start = start  # type: ignore[method-assign]

    config.add_cleanup(restore)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    global _running
    _running = item
    try:
        yield
    finally:
        _running = None
