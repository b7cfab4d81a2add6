"""The log's errors."""

from __future__ import annotations


class LogError(Exception):
    """Base class of the log's errors."""


class BudgetExceeded(LogError):
    """The log is full of records this append may not push out."""

    def __init__(self, message: str, cls: str, used_bytes: int, budget_bytes: int) -> None:
        super().__init__(message)
        self.cls = cls
        self.used_bytes = used_bytes
        self.budget_bytes = budget_bytes


class StreamClassMismatch(LogError):
    """A stream carries exactly one record class; the stream name says which kind it is."""


class UnknownConsumer(LogError):
    pass
