"""Action handlers: what a rule's action does once the rules engine has its payload.

A handler is any callable taking an ActionCall; it raises ActionFailed (or any exception) when
the destination refuses, which sends the message to the rule's error action, as AWS does.
The in-memory handlers here are the local stand-ins the simulation and tests plug in; the
boto3 handlers in `aws_handlers` write to real (or moto) AWS services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloud.iot_sql import Message
from cloud.rules.definitions import Action


class ActionFailed(RuntimeError):
    """The destination refused the action; `.resource` names it, as in the AWS error message."""

    def __init__(self, message: str, resource: str = "") -> None:
        super().__init__(message)
        self.resource = resource


@dataclass(frozen=True)
class ActionCall:
    rule_name: str
    action: Action
    params: dict[str, Any]  # substitution templates already rendered
    payload: bytes  # the outgoing payload as sent
    value: Any  # the same, as an IoT SQL value (dict, list, RawBytes, ...)
    message: Message  # the incoming message (topic, client id, principal, time)


ActionHandler = Callable[[ActionCall], None]


@dataclass
class MemoryStream:
    """A Kinesis stream: records in arrival order with their partition keys."""

    records: list[tuple[str, bytes]] = field(default_factory=list)

    def __call__(self, call: ActionCall) -> None:
        key = call.params.get("partitionKey", "")
        if not key:
            raise ActionFailed("partition key rendered empty", resource="telemetry_stream")
        self.records.append((key, call.payload))


@dataclass
class MemoryTable:
    """A DynamoDB table written by dynamoDBv2: the payload's root keys become the item."""

    partition_key: str
    items: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, call: ActionCall) -> None:
        item = call.value
        if not isinstance(item, dict):
            raise ActionFailed("dynamoDBv2 needs a JSON object payload", resource="state_table")
        if self.partition_key not in item:
            raise ActionFailed(
                f"payload has no root-level key {self.partition_key!r}", resource="state_table"
            )
        self.items[item[self.partition_key]] = dict(item)


@dataclass
class MemoryTopic:
    """An SNS topic: the messages published to it."""

    messages: list[bytes] = field(default_factory=list)

    def __call__(self, call: ActionCall) -> None:
        self.messages.append(call.payload)


@dataclass
class MemoryBroker:
    """Republish: (topic, payload, qos) in order. A simulation forwards these to its broker."""

    published: list[tuple[str, bytes, int]] = field(default_factory=list)

    def __call__(self, call: ActionCall) -> None:
        self.published.append((call.params["topic"], call.payload, int(call.params.get("qos", 0))))


@dataclass
class MemoryBucket:
    """An S3 bucket: objects by key (error actions land here)."""

    objects: dict[str, bytes] = field(default_factory=dict)

    def __call__(self, call: ActionCall) -> None:
        self.objects[call.params["key"]] = call.payload


def memory_handlers(**given: ActionHandler) -> dict[str, ActionHandler]:
    """An in-memory stand-in for every action type (a fresh one each), except those `given`
    by action type name (e.g. `kinesis=stream` to keep hold of the stream)."""
    from cloud.rules import definitions as d

    handlers: dict[str, ActionHandler] = {
        d.KINESIS: MemoryStream(),
        d.DYNAMODB_V2: MemoryTable(d.STATE_PARTITION_KEY),
        d.SNS: MemoryTopic(),
        d.REPUBLISH: MemoryBroker(),
        d.S3: MemoryBucket(),
    }
    unknown = set(given) - set(handlers)
    if unknown:
        raise ValueError(f"no action types {sorted(unknown)}")
    return handlers | given
