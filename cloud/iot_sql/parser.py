"""Recursive-descent parser: SQL text -> Query. Every rejection is a SqlSyntaxError.

Precedence, loosest first: OR, AND, NOT, comparison (= <> < <= > >= IN), + -, * / %,
unary minus, postfix (.field, [index]), primary.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from cloud.iot_sql import functions
from cloud.iot_sql.lexer import SqlSyntaxError, Token, tokenize
from cloud.iot_sql.nodes import (
    ArrayLiteral,
    Binary,
    Call,
    Case,
    Cast,
    Expr,
    Field,
    Ident,
    Index,
    Literal,
    ObjectLiteral,
    Select,
    SelectItem,
    Star,
    SubQuery,
    Unary,
)
from cloud.iot_sql.topic_filter import TopicFilterError, validate_filter
from cloud.iot_sql.values import DECIMAL_CONTEXT, number

MAX_DEPTH: Final = 64  # nesting deeper than this is refused instead of overflowing the stack
_COMPARISONS: Final = ("=", "<>", "<", "<=", ">", ">=")


class Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        self.pos = 0
        self.depth = 0

    # ---- token helpers ----

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def error(self, message: str, token: Token | None = None) -> SqlSyntaxError:
        token = token or self.tok
        found = "end of input" if token.kind == "EOF" else repr(token.text)
        return SqlSyntaxError(f"{message}, found {found}", self.sql, token.position)

    def advance(self) -> Token:
        token = self.tok
        if token.kind != "EOF":
            self.pos += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def at_keyword(self, word: str) -> bool:
        return self.at("KEYWORD", word)

    def at_symbol(self, symbol: str) -> bool:
        return self.at("SYMBOL", symbol)

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.error(f"expected {word}")
        return self.advance()

    def expect_symbol(self, symbol: str) -> Token:
        if not self.at_symbol(symbol):
            raise self.error(f"expected {symbol!r}")
        return self.advance()

    def at_word(self, word: str) -> bool:
        """A contextual keyword such as VALUE, which stays usable as a payload key."""
        return self.tok.kind == "IDENT" and self.tok.text.upper() == word

    def next_ends_item(self) -> bool:
        """`SELECT value FROM ...` reads a key named value, not SELECT VALUE."""
        nxt = self.tokens[self.pos + 1]
        return (nxt.kind == "KEYWORD" and nxt.text in ("FROM", "AS")) or (
            nxt.kind == "SYMBOL" and nxt.text in (",", ".")
        )

    def name(self, what: str) -> str:
        """An identifier; after AS or '.', keywords are accepted as plain names."""
        clause = self.tok.kind == "KEYWORD" and self.tok.text in ("FROM", "WHERE")
        if self.tok.kind in ("IDENT", "KEYWORD") and not clause:
            token = self.advance()
            return (
                token.text
                if token.kind == "IDENT"
                else self.sql[token.position : token.position + len(token.text)]
            )
        raise self.error(f"expected {what}")

    # ---- statements ----

    def statement(self) -> tuple[Select, str]:
        select, source = self.select_body(top_level=True)
        if not self.at("EOF"):
            raise self.error("expected end of statement")
        assert isinstance(source, str)
        return select, source

    def select_body(self, top_level: bool) -> tuple[Select, str | Expr]:
        self.expect_keyword("SELECT")
        value = False
        if self.at_word("VALUE") and not self.next_ends_item():
            value = True
            self.advance()
        items = [self.select_item(value)]
        while self.at_symbol(","):
            if value:
                raise self.error("SELECT VALUE takes exactly one expression")
            self.advance()
            items.append(self.select_item(value))
        self.expect_keyword("FROM")
        source: str | Expr
        if top_level:
            source = self.topic_filter()
        else:
            source = self.expression()
        where = None
        if self.at_keyword("WHERE"):
            self.advance()
            where = self.expression()
        return Select(tuple(items), value, where), source

    def select_item(self, value: bool) -> SelectItem:
        expr = self.expression()
        alias = None
        if self.at_keyword("AS"):
            if value:
                raise self.error("SELECT VALUE takes no alias")
            self.advance()
            parts = [self.name("an alias")]
            while self.at_symbol("."):
                self.advance()
                parts.append(self.name("an alias segment"))
            alias = tuple(parts)
        return SelectItem(expr, alias)

    def topic_filter(self) -> str:
        token = self.tok
        if token.kind != "STRING":
            raise self.error("FROM needs a topic filter in single quotes")
        self.advance()
        try:
            return validate_filter(token.text)
        except TopicFilterError as exc:
            raise SqlSyntaxError(str(exc), self.sql, token.position) from None

    # ---- expressions ----

    def expression(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")
        try:
            return self.disjunction()
        finally:
            self.depth -= 1

    def disjunction(self) -> Expr:
        left = self.conjunction()
        while self.at_keyword("OR"):
            self.advance()
            left = Binary("OR", left, self.conjunction())
        return left

    def conjunction(self) -> Expr:
        left = self.negation()
        while self.at_keyword("AND"):
            self.advance()
            left = Binary("AND", left, self.negation())
        return left

    def negation(self) -> Expr:
        if self.at_keyword("NOT"):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")
            try:
                return Unary("NOT", self.negation())
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        while True:
            if self.tok.kind == "SYMBOL" and self.tok.text in _COMPARISONS:
                op = self.advance().text
                left = Binary(op, left, self.additive())
            elif self.at_keyword("IN"):
                self.advance()
                left = Binary("IN", left, self.additive())
            else:
                return left

    def additive(self) -> Expr:
        left = self.multiplicative()
        while self.tok.kind == "SYMBOL" and self.tok.text in ("+", "-"):
            op = self.advance().text
            left = Binary(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Expr:
        left = self.unary()
        while self.tok.kind == "SYMBOL" and self.tok.text in ("*", "/", "%"):
            op = self.advance().text
            left = Binary(op, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.at_symbol("-"):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"expression nested deeper than {MAX_DEPTH} levels")
            try:
                operand = self.unary()
            finally:
                self.depth -= 1
            if isinstance(operand, Literal) and type(operand.value) in (int, Decimal):
                return Literal(-operand.value)
            return Unary("-", operand)
        return self.postfix()

    def postfix(self) -> Expr:
        expr = self.primary()
        while True:
            if self.at_symbol("."):
                self.advance()
                expr = Field(expr, self.name("a field name after '.'"))
            elif self.at_symbol("["):
                self.advance()
                index = self.expression()
                self.expect_symbol("]")
                expr = Index(expr, index)
            else:
                return expr

    def primary(self) -> Expr:
        token = self.tok
        if token.kind == "NUMBER":
            self.advance()
            return Literal(self.number_literal(token))
        if token.kind == "STRING":
            self.advance()
            return Literal(token.text)
        if token.kind == "KEYWORD":
            if token.text in ("TRUE", "FALSE"):
                self.advance()
                return Literal(token.text == "TRUE")
            if token.text == "NULL":
                self.advance()
                return Literal(None)
            if token.text == "CASE":
                return self.case()
            raise self.error("expected an expression")
        if token.kind == "IDENT":
            self.advance()
            if self.at_symbol("("):
                return self.call(token)
            return Ident(token.text)
        if self.at_symbol("*"):
            self.advance()
            return Star()
        if self.at_symbol("("):
            self.advance()
            inner: Expr
            if self.at_keyword("SELECT"):
                select, source = self.select_body(top_level=False)
                assert not isinstance(source, str)
                inner = SubQuery(select, source)
            else:
                inner = self.expression()
            self.expect_symbol(")")
            return inner
        if self.at_symbol("["):
            self.advance()
            items: list[Expr] = []
            if not self.at_symbol("]"):
                items.append(self.expression())
                while self.at_symbol(","):
                    self.advance()
                    items.append(self.expression())
            self.expect_symbol("]")
            return ArrayLiteral(tuple(items))
        if self.at_symbol("{"):
            return self.object_literal()
        raise self.error("expected an expression")

    def number_literal(self, token: Token) -> int | Decimal:
        text = token.text
        if any(c in text for c in ".eE"):
            try:
                value = DECIMAL_CONTEXT.create_decimal(text)
            except ArithmeticError:
                raise self.error("number out of range", token) from None
            result = number(value)
            if not isinstance(result, (int, Decimal)):
                raise self.error("number out of range", token)
            return result
        if len(text) > 34:
            raise self.error("integer literal longer than 34 digits", token)
        return int(text)

    def call(self, name_token: Token) -> Expr:
        name = name_token.text.lower()
        if name == "cast":
            return self.cast()
        if name in functions.EXTERNAL_FUNCTIONS:
            raise self.error(
                f"function {name_token.text}() calls another AWS service and cannot be "
                "evaluated locally",
                name_token,
            )
        if name not in functions.FUNCTIONS:
            raise SqlSyntaxError(
                f"unknown function {name_token.text}()", self.sql, name_token.position
            )
        self.expect_symbol("(")
        args: list[Expr] = []
        if not self.at_symbol(")"):
            args.append(self.expression())
            while self.at_symbol(","):
                self.advance()
                args.append(self.expression())
        self.expect_symbol(")")
        return Call(name, name_token.text, tuple(args))

    def cast(self) -> Expr:
        self.expect_symbol("(")
        operand = self.expression()
        self.expect_keyword("AS")
        type_token = self.tok
        type_name = self.name("a type name").lower()
        if type_name not in functions.CAST_TYPES:
            raise SqlSyntaxError(
                f"cast to unknown type {type_token.text!r} "
                f"(known: {', '.join(sorted(functions.CAST_TYPES))})",
                self.sql,
                type_token.position,
            )
        self.expect_symbol(")")
        return Cast(operand, type_name)

    def case(self) -> Expr:
        self.expect_keyword("CASE")
        subject = self.expression()
        whens: list[tuple[Expr, Expr]] = []
        while self.at_keyword("WHEN"):
            self.advance()
            candidate = self.expression()
            self.expect_keyword("THEN")
            whens.append((candidate, self.expression()))
        if not whens:
            raise self.error("CASE needs at least one WHEN")
        otherwise = None
        if self.at_keyword("ELSE"):
            self.advance()
            otherwise = self.expression()
        self.expect_keyword("END")
        return Case(subject, tuple(whens), otherwise)

    def object_literal(self) -> Expr:
        self.expect_symbol("{")
        members: list[tuple[str, Expr]] = []
        if not self.at_symbol("}"):
            while True:
                key = self.tok
                if key.kind != "STRING":
                    raise self.error("object literal keys are quoted strings")
                self.advance()
                self.expect_symbol(":")
                members.append((key.text, self.expression()))
                if not self.at_symbol(","):
                    break
                self.advance()
        self.expect_symbol("}")
        return ObjectLiteral(tuple(members))


def parse_statement(sql: str) -> tuple[Select, str]:
    """(select, topic filter) of a rule's SQL statement."""
    if not isinstance(sql, str):
        raise TypeError("SQL must be a str")
    return Parser(sql).statement()


def parse_expression(text: str) -> Expr:
    """One expression, as used inside `${...}` substitution templates."""
    parser = Parser(text)
    expr = parser.expression()
    if not parser.at("EOF"):
        raise parser.error("expected end of expression")
    return expr
