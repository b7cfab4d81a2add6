"""Rendering tables in the terminal with rich: OK green, WARN yellow, FAIL red.

A value is never split: names, states, numbers and times stay whole on one line; only the
free-text columns (`Table.text_columns`: details, reasons, remedies) wrap, and only between
words. A table that cannot fit the terminal that way is shown row by row instead ("cards":
the name on the verdict's line, then `column: value` pairs), which fits 80 columns.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from components.console.levels import Level
from components.console.views import Table

_VERDICT_WIDTH = max(len(level.name) for level in Level)
_GAP = "   "  # between the pairs of a card line
_TEXT_MIN = 28  # a text column narrower than this reads as a column of single words


def verdict(level: Level) -> Text:
    return Text(level.name, style=level.colour)


def render(
    console: Console,
    tables: Iterable[Table],
    headline: str | None = None,
    level: Level | None = None,
) -> None:
    if headline is not None:
        line = Text(headline + " ", style="bold")
        if level is not None:
            line.append_text(verdict(level))
        console.print(line)
    for t in tables:
        title = Text(t.title + " ", style="bold")
        if t.level is not None:
            title.append_text(verdict(t.level))
        console.print(title)
        if _fits(console, t):
            console.print(_rich_table(t))
        else:
            _cards(console, t)
        if t.note:
            console.print(Text(t.note, style="dim"))


def _with_verdict(t: Table) -> bool:
    return any(r.level is not None for r in t.rows)


def _rich_table(t: Table) -> RichTable:
    rt = RichTable(expand=False, show_edge=False, pad_edge=False)
    if _with_verdict(t):
        rt.add_column("", no_wrap=True)
    for i, col in enumerate(t.columns):
        if i in t.text_columns:
            rt.add_column(col, overflow="fold")  # wraps between words; see _fits
        else:
            rt.add_column(col, no_wrap=True)
    for r in t.rows:
        cells: list[Text | str] = list(r.cells)
        if _with_verdict(t):
            cells.insert(0, verdict(r.level) if r.level is not None else "")
        rt.add_row(*cells)
    return rt


def _fits(console: Console, t: Table) -> bool:
    """Whether the table fits with every value whole: values at full width, text columns at
    their longest word, plus the separators (" │ " between columns, no outer edge)."""
    columns = ([""] if _with_verdict(t) else []) + list(t.columns)
    rows = [
        ([r.level.name if r.level is not None else ""] if _with_verdict(t) else []) + list(r.cells)
        for r in t.rows
    ]
    text = {i + (1 if _with_verdict(t) else 0) for i in t.text_columns}
    widths = []
    for i, head in enumerate(columns):
        cells = [head, *(row[i] for row in rows)]
        if i in text:  # its longest word, and room for a readable line of it
            longest = max((len(w) for c in cells for w in c.split()), default=1)
            widths.append(max(longest, min(_TEXT_MIN, max(len(c) for c in cells))))
        else:
            widths.append(max(len(c) for c in cells))
    return sum(widths) + 3 * (len(widths) - 1) <= console.width


def _cards(console: Console, t: Table) -> None:
    lead = _VERDICT_WIDTH + 1 if _with_verdict(t) else 0
    width = max(20, console.width - lead - 1)
    for r in t.rows:
        head = Text(" " * lead)
        if r.level is not None:
            head = verdict(r.level)
            head.pad_right(lead - len(head))
        head.append(r.cells[0] if r.cells else "", style="bold")
        console.print(head, crop=False, overflow="ignore", no_wrap=True)
        pairs = [
            f"{c}: {v}"
            for i, (c, v) in enumerate(zip(t.columns, r.cells, strict=True))
            if i and i not in t.text_columns and v not in ("", "-")
        ]
        lines = _pack(pairs, width)
        for i, (c, v) in enumerate(zip(t.columns, r.cells, strict=True)):
            if i and i in t.text_columns and v not in ("", "-"):
                lines += _wrap_words(f"{c}: {v}", width)
        for line in lines:
            console.print(
                " " * lead + line,
                crop=False,
                overflow="ignore",
                no_wrap=True,
                highlight=False,
                markup=False,
            )


def _pack(atoms: list[str], width: int) -> list[str]:
    """Whole atoms, as many per line as fit (an atom longer than a line gets its own)."""
    lines: list[str] = []
    for atom in atoms:
        if lines and len(lines[-1]) + len(_GAP) + len(atom) <= width:
            lines[-1] += _GAP + atom
        else:
            lines.append(atom)
    return lines


def _wrap_words(text: str, width: int) -> list[str]:
    """Free text wrapped between words, continuation lines indented under the first word's
    end; a word longer than a line (a path) stays whole on a line of its own."""
    words = text.split()
    indent = " " * min(len(words[0]) + 1, width // 3) if words else ""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append((indent if lines else "") + word)
    return lines
