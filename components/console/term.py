"""Rendering tables in the terminal with rich: OK green, WARN yellow, FAIL red."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from components.console.levels import Level
from components.console.views import Table


def verdict(level: Level) -> Text:
    return Text(level.name, style=level.colour)


def render(console: Console, tables: Iterable[Table], headline: str | None = None,
           level: Level | None = None) -> None:
    if headline is not None:
        line = Text(headline + " ", style="bold")
        if level is not None:
            line.append_text(verdict(level))
        console.print(line)
    for t in tables:
        with_verdict = any(r.level is not None for r in t.rows)
        title = Text(t.title + " ", style="bold")
        if t.level is not None:
            title.append_text(verdict(t.level))
        rt = RichTable(title=title, title_justify="left", caption=t.note or None,
                       caption_justify="left", expand=False)
        if with_verdict:
            rt.add_column("", no_wrap=True)
        for col in t.columns:
            rt.add_column(col, overflow="fold")
        for r in t.rows:
            cells: list[Text | str] = list(r.cells)
            if with_verdict:
                cells.insert(0, verdict(r.level) if r.level is not None else "")
            rt.add_row(*cells)
        console.print(rt)
