"""Verdicts and the exit codes scripts can trust.

| exit | meaning |
|---|---|
| 0 | everything checked is OK (UNKNOWN/SKIP items do not count) |
| 1 | at least one warning, no failure |
| 2 | at least one failure |
| 3 | the command could not run (no log, unreadable configuration, bad export) |
| 64 | wrong usage (unknown command or option) |
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Final

EXIT_OK: Final = 0
EXIT_WARN: Final = 1
EXIT_FAIL: Final = 2
EXIT_CANNOT_RUN: Final = 3
EXIT_USAGE: Final = 64


class Level(IntEnum):
    """Ordered so that max() of a set of verdicts is the overall verdict."""

    SKIP = 0  # not checked here (not configured, not applicable)
    UNKNOWN = 1  # nothing tells us; shown honestly, does not change the exit code
    OK = 2
    WARN = 3
    FAIL = 4

    @property
    def colour(self) -> str:
        return _COLOURS[self]


_COLOURS = {
    Level.SKIP: "dim",
    Level.UNKNOWN: "yellow dim",
    Level.OK: "green",
    Level.WARN: "yellow",
    Level.FAIL: "bold red",
}


def overall(levels: Iterable[Level]) -> Level:
    return max(levels, default=Level.OK)


def exit_code(levels: Iterable[Level]) -> int:
    worst = overall(levels)
    if worst is Level.FAIL:
        return EXIT_FAIL
    if worst is Level.WARN:
        return EXIT_WARN
    return EXIT_OK
