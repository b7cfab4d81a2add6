"""Tokens of AWS IoT SQL, with the character offset of each for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


class SqlSyntaxError(ValueError):
    """SQL that AWS IoT would reject at rule creation; `.position` is a 0-based offset."""

    def __init__(self, message: str, sql: str, position: int) -> None:
        self.reason = message
        self.sql = sql
        self.position = position
        line_start = sql.rfind("\n", 0, position) + 1
        line_end = sql.find("\n", position)
        line = sql[line_start : line_end if line_end != -1 else len(sql)]
        caret = " " * (position - line_start) + "^"
        super().__init__(f"{message} at position {position}\n  {line}\n  {caret}")


KEYWORDS: Final = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "IN",
        "CASE", "WHEN", "THEN", "ELSE", "END", "TRUE", "FALSE", "NULL",
    }
)  # fmt: skip

# Longest first so that `<>` and `<=` win over `<`.
_SYMBOLS: Final = ("<>", "<=", ">=", "(", ")", "[", "]", "{", "}", ",", ".", "*", "/", "%",
                   "+", "-", "=", "<", ">", ":")  # fmt: skip
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "/": "/"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # NUMBER, STRING, IDENT, KEYWORD, SYMBOL, EOF
    text: str  # the value: unescaped string, upper-cased keyword, symbol, number text
    position: int


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch.isascii() and ch.isdigit():
            i = _scan_number(sql, i)
            tokens.append(Token("NUMBER", sql[start:i], start))
            continue
        if ch.isascii() and (ch.isalpha() or ch == "_"):
            while i < n and sql[i].isascii() and (sql[i].isalnum() or sql[i] == "_"):
                i += 1
            word = sql[start:i]
            if word.upper() in KEYWORDS:
                tokens.append(Token("KEYWORD", word.upper(), start))
            else:
                tokens.append(Token("IDENT", word, start))
            continue
        if ch in "'\"":
            text, i = _scan_string(sql, i)
            tokens.append(Token("STRING", text, start))
            continue
        for symbol in _SYMBOLS:
            if sql.startswith(symbol, i):
                tokens.append(Token("SYMBOL", symbol, start))
                i += len(symbol)
                break
        else:
            raise SqlSyntaxError(f"unexpected character {ch!r}", sql, start)
    tokens.append(Token("EOF", "", n))
    return tokens


def _scan_number(sql: str, i: int) -> int:
    n = len(sql)

    def digits(j: int) -> int:
        while j < n and sql[j].isascii() and sql[j].isdigit():
            j += 1
        return j

    i = digits(i)
    if i + 1 < n and sql[i] == "." and sql[i + 1].isascii() and sql[i + 1].isdigit():
        i = digits(i + 1)
    if i < n and sql[i] in "eE":
        j = i + 1
        if j < n and sql[j] in "+-":
            j += 1
        if j < n and sql[j].isascii() and sql[j].isdigit():
            i = digits(j)
    return i


def _scan_string(sql: str, i: int) -> tuple[str, int]:
    quote, start, n = sql[i], i, len(sql)
    i += 1
    out: list[str] = []
    while i < n:
        ch = sql[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            nxt = sql[i + 1]
            if nxt not in _ESCAPES:
                raise SqlSyntaxError(f"unknown escape \\{nxt} in string", sql, i)
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SqlSyntaxError("unterminated string literal", sql, start)
