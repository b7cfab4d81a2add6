"""A local evaluator of AWS IoT SQL, version 2016-03-23: parse once, evaluate per message.

    query = parse("SELECT temperature AS t FROM 'sensors/+' WHERE temperature > 50")
    result = query.evaluate(Message(topic="sensors/a", payload=b'{"temperature": 60}',
                                    timestamp_ms=clock.wall_ms()))
    result.payload_bytes()  # b'{"t":60}'; `result is None` when FROM or WHERE does not pass

Pure: no I/O, no clock; the message carries the time, client id and principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.iot_sql.lexer import SqlSyntaxError
from cloud.iot_sql.message import SQL_VERSION, Message, Scope
from cloud.iot_sql.nodes import EvaluationError, Expr, Select
from cloud.iot_sql.parser import parse_expression, parse_statement
from cloud.iot_sql.topic_filter import topic_matches
from cloud.iot_sql.values import (
    UNDEFINED,
    BinaryPayloadError,
    RawBytes,
    serialize,
    to_string,
)

__all__ = [
    "SQL_VERSION",
    "UNDEFINED",
    "BinaryPayloadError",
    "EvaluationError",
    "Message",
    "Output",
    "Query",
    "RawBytes",
    "SqlSyntaxError",
    "Template",
    "parse",
    "parse_template",
    "topic_matches",
]


@dataclass(frozen=True, slots=True)
class Output:
    """A rule's outgoing payload: `value` as IoT SQL holds it, `payload_bytes()` as sent."""

    value: Any

    def payload_bytes(self) -> bytes:
        return serialize(self.value)


@dataclass(frozen=True)
class Query:
    sql: str
    topic_filter: str
    select: Select

    def matches(self, topic: str) -> bool:
        return topic_matches(self.topic_filter, topic)

    def where(self, message: Message) -> bool:
        return self.select.passes(Scope.of(message))

    def project(self, message: Message) -> Output:
        """SELECT alone (WHERE not consulted). Raises EvaluationError for an unusable payload."""
        output = Output(self.select.project(Scope.of(message)))
        output.payload_bytes()  # fail here, not in an action, when the result is not encodable
        return output

    def evaluate(self, message: Message) -> Output | None:
        """The outgoing payload, or None when the topic does not match or WHERE is not true."""
        if not self.matches(message.topic):
            return None
        if not self.where(message):
            return None
        return self.project(message)


def parse(sql: str) -> Query:
    """Parse a rule's SQL; raises SqlSyntaxError (with the offending position) if invalid."""
    select, topic_filter = parse_statement(sql)
    return Query(sql, topic_filter, select)


@dataclass(frozen=True)
class Template:
    """An action field with `${expression}` substitutions, evaluated on the original payload."""

    text: str
    parts: tuple[str | Expr, ...]

    def render(self, message: Message) -> str:
        scope = Scope.of(message)
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = to_string(part.eval(scope))
            out.append("" if value is UNDEFINED else value)
        return "".join(out)


def parse_template(text: str) -> Template:
    parts: list[str | Expr] = []
    i = 0
    while i < len(text):
        start = text.find("${", i)
        if start == -1:
            parts.append(text[i:])
            break
        if start > i:
            parts.append(text[i:start])
        end = _template_end(text, start + 2)
        try:
            parts.append(parse_expression(text[start + 2 : end]))
        except SqlSyntaxError as exc:
            raise SqlSyntaxError(exc.reason, text, start + 2 + exc.position) from None
        i = end + 1
    return Template(text, tuple(parts))


def _template_end(text: str, i: int) -> int:
    """The `}` closing a substitution, skipping quoted strings and nested braces."""
    depth, quote = 0, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise SqlSyntaxError("unterminated ${...} substitution", text, i)
