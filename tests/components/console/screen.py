"""An oracle for "every value whole" on a terminal of a given width, independent of how the
console lays a table out: each value cell appears whole within one output line, each word of
a free-text cell too, and no line is wider than the terminal unless it is one word that
cannot be (a long path)."""

from __future__ import annotations

from collections.abc import Iterable

from components.console.views import Table


def assert_whole_values(text: str, tables: Iterable[Table], width: int) -> None:
    lines = text.splitlines()
    for line in lines:
        assert (
            len(line) <= width
            or len(line.split()) == 1
            or any(len(w) > width - 20 for w in line.split())
        ), f"line wider than {width}: {line!r}"
    for t in tables:
        for row in t.rows:
            for i, cell in enumerate(row.cells):
                pieces = cell.split() if i in t.text_columns else [cell]
                for piece in pieces:
                    if piece and piece != "-":
                        assert any(piece in line for line in lines), (
                            f"{t.title}/{t.columns[i]}: {piece!r} split at {width} columns"
                        )
