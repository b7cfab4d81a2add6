"""The syntax tree of a rule's SQL; each expression node evaluates itself in a Scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.iot_sql import functions, operators
from cloud.iot_sql.message import Scope
from cloud.iot_sql.values import (
    UNDEFINED,
    BinaryPayloadError,
    RawBytes,
    sql_equals,
    to_numeric,
)


class EvaluationError(ValueError):
    """A message the rule cannot turn into an outgoing payload (AWS logs it, runs no action)."""


class Expr:
    def eval(self, scope: Scope) -> Any:
        raise NotImplementedError

    def default_name(self) -> str | None:
        """The output key when the SELECT item has no alias."""
        return None


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: Any

    def eval(self, scope: Scope) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class Star(Expr):
    """`*`: the whole payload (a JSON value, or RawBytes for a non-JSON payload)."""

    def eval(self, scope: Scope) -> Any:
        return scope.document


@dataclass(frozen=True, slots=True)
class Ident(Expr):
    name: str

    def eval(self, scope: Scope) -> Any:
        return scope.lookup(self.name)

    def default_name(self) -> str | None:
        return self.name


@dataclass(frozen=True, slots=True)
class Field(Expr):
    base: Expr
    name: str

    def eval(self, scope: Scope) -> Any:
        value = self.base.eval(scope)
        return value.get(self.name, UNDEFINED) if isinstance(value, dict) else UNDEFINED

    def default_name(self) -> str | None:
        return self.name


@dataclass(frozen=True, slots=True)
class Index(Expr):
    base: Expr
    index: Expr

    def eval(self, scope: Scope) -> Any:
        value = self.base.eval(scope)
        if not isinstance(value, list):
            return UNDEFINED
        position = to_numeric(self.index.eval(scope))
        if type(position) is not int or not 0 <= position < len(value):
            return UNDEFINED
        return value[position]

    def default_name(self) -> str | None:
        return self.base.default_name()


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str  # "-" or "NOT"
    operand: Expr

    def eval(self, scope: Scope) -> Any:
        value = self.operand.eval(scope)
        return operators.negate(value) if self.op == "-" else operators.logical_not(value)


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr

    def eval(self, scope: Scope) -> Any:
        return operators.BINARY[self.op](self.left.eval(scope), self.right.eval(scope))


@dataclass(frozen=True, slots=True)
class Call(Expr):
    name: str  # canonical lower-case name
    written: str  # as written, for the default output key
    args: tuple[Expr, ...]

    def eval(self, scope: Scope) -> Any:
        values = []
        for arg in self.args:
            if isinstance(arg, Star) and self.name == "encode":
                # encode(*, ...) works on the payload bytes whether or not they are JSON.
                values.append(RawBytes(scope.message.payload))
            else:
                values.append(arg.eval(scope))
        return functions.call(self.name, scope, values)

    def default_name(self) -> str | None:
        return self.written


@dataclass(frozen=True, slots=True)
class Cast(Expr):
    operand: Expr
    type_name: str  # lower-case key of functions.CAST_TYPES

    def eval(self, scope: Scope) -> Any:
        value = self.operand.eval(scope)
        if value is UNDEFINED:
            return UNDEFINED
        return functions.CAST_TYPES[self.type_name](value)

    def default_name(self) -> str | None:
        return "cast"


@dataclass(frozen=True, slots=True)
class Case(Expr):
    subject: Expr
    whens: tuple[tuple[Expr, Expr], ...]
    otherwise: Expr | None

    def eval(self, scope: Scope) -> Any:
        value = self.subject.eval(scope)
        if value is UNDEFINED:
            return UNDEFINED
        for candidate, result in self.whens:
            if sql_equals(value, candidate.eval(scope)) is True:
                return result.eval(scope)
        return UNDEFINED if self.otherwise is None else self.otherwise.eval(scope)


@dataclass(frozen=True, slots=True)
class ArrayLiteral(Expr):
    items: tuple[Expr, ...]

    def eval(self, scope: Scope) -> Any:
        return [value for item in self.items if (value := item.eval(scope)) is not UNDEFINED]


@dataclass(frozen=True, slots=True)
class ObjectLiteral(Expr):
    members: tuple[tuple[str, Expr], ...]

    def eval(self, scope: Scope) -> Any:
        out: dict[str, Any] = {}
        for key, expr in self.members:
            value = expr.eval(scope)
            if value is not UNDEFINED:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class SelectItem:
    expr: Expr
    alias: tuple[str, ...] | None  # `AS a.b` creates nesting


@dataclass(frozen=True, slots=True)
class Select:
    """SELECT [VALUE] items [WHERE]: the part shared by a rule and a nested object query."""

    items: tuple[SelectItem, ...]
    value: bool
    where: Expr | None

    def passes(self, scope: Scope) -> bool:
        """Actions run only when WHERE is Boolean true; Undefined or false means no actions."""
        return self.where is None or self.where.eval(scope) is True

    def project(self, scope: Scope) -> Any:
        if self.value:
            return self.items[0].expr.eval(scope)
        if len(self.items) == 1 and isinstance(self.items[0].expr, Star):
            if self.items[0].alias is None:
                return scope.document  # SELECT *: the payload as it came, JSON or not
        out: dict[str, Any] = {}
        for position, item in enumerate(self.items, start=1):
            value = item.expr.eval(scope)
            if isinstance(item.expr, Star) and item.alias is None:
                _merge_payload(out, value)
                continue
            if value is UNDEFINED:
                continue  # Undefined is left out of the result
            if isinstance(value, RawBytes):
                raise BinaryPayloadError(
                    "a non-JSON payload cannot be a member of a JSON result", value.data
                )
            path = item.alias or (item.expr.default_name() or f"_{position}",)
            _assign(out, path, value)
        return out


def _merge_payload(out: dict[str, Any], payload: Any) -> None:
    if isinstance(payload, dict):
        out.update(payload)
    elif isinstance(payload, RawBytes) and not payload.data:
        return  # an empty payload adds nothing
    elif isinstance(payload, RawBytes):
        raise BinaryPayloadError(
            "SELECT *, ... cannot add keys to a non-JSON payload; use encode(*, 'base64')",
            payload.data,
        )
    else:
        raise EvaluationError(f"SELECT *, ... needs a JSON object payload, got {payload!r:.64}")


def _assign(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = out
    for key in path[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = {}
            target[key] = child
        target = child
    target[path[-1]] = value


@dataclass(frozen=True, slots=True)
class SubQuery(Expr):
    """`(SELECT ... FROM array [WHERE ...])`: evaluated once per element of the array."""

    select: Select
    source: Expr

    def eval(self, scope: Scope) -> Any:
        elements = self.source.eval(scope)
        if not isinstance(elements, list):
            return UNDEFINED
        results = []
        for element in elements:
            inner = Scope(scope.message, element)
            if not self.select.passes(inner):
                continue
            value = self.select.project(inner)
            if value is not UNDEFINED:
                results.append(value)
        return results
