"""What a rule sees of one incoming message, and the scope expressions are evaluated in."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from cloud.iot_sql.values import NOT_JSON, UNDEFINED, RawBytes, parse_json

SQL_VERSION: Final = "2016-03-23"
BASIC_INGEST_PREFIX: Final = "$aws/rules/"


def _new_uuid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Message:
    """One publish as the rules engine receives it.

    `clientid` is "n/a" when the message did not arrive over MQTT (guide, clientid()).
    `newuuid` and `rand` are injected so tests and simulations can make them repeatable.
    """

    topic: str
    payload: bytes
    timestamp_ms: int
    clientid: str = "n/a"
    principal: str | None = None
    accountid: str = "000000000000"
    traceid: str | None = None
    newuuid: Callable[[], str] = field(default=_new_uuid, compare=False)
    rand: Callable[[], float] = field(default=random.random, compare=False)

    @cached_property
    def document(self) -> Any:
        """The payload as JSON, or RawBytes when it is not JSON (what `*` returns)."""
        parsed = parse_json(self.payload)
        return RawBytes(self.payload) if parsed is NOT_JSON else parsed

    @cached_property
    def rule_topic(self) -> str:
        """The topic as topic() sees it: a Basic Ingest prefix `$aws/rules/<rule>/` is hidden."""
        if self.topic.startswith(BASIC_INGEST_PREFIX):
            parts = self.topic.split("/", 3)
            return parts[3] if len(parts) == 4 else ""
        return self.topic


@dataclass(frozen=True, slots=True)
class Scope:
    """Where identifiers resolve: the message payload, or one element in a nested query."""

    message: Message
    document: Any

    def lookup(self, name: str) -> Any:
        if isinstance(self.document, dict):
            return self.document.get(name, UNDEFINED)
        return UNDEFINED

    @classmethod
    def of(cls, message: Message) -> Scope:
        return cls(message, message.document)
