"""Each component README's table of configuration keys, generated from its Spec.

The table sits between two marker lines in `components/<package>/README.md`; the text around
it is the README's own. `python -m cloud.greengrass.config_docs --write` regenerates every
table; without `--write` it lists the drift (a key the Spec declares and the README lacks, a
key the README names and the Spec does not, a row whose type, default or meaning differ) and
exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloud.greengrass.specs import component_spec
from components.core.config import Key, Spec

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
BEGIN = (
    "<!-- configuration keys: generated from config.py"
    " (python -m cloud.greengrass.config_docs --write) -->"
)
END = "<!-- end of configuration keys -->"
_HEADER = ("| key | type | default | meaning |", "|---|---|---|---|")
_ROW_KEY = re.compile(r"^\| `([^`]+)` \|")


class NoKeyTable(ValueError):
    """A component with a Spec has no generated key table in its README."""


def _default(value: Any) -> str:
    return f"`{json.dumps(value)}`"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _meaning(key: Key) -> str:
    bounds = []
    if key.min is not None and key.max is not None:
        bounds.append(f"{_number(key.min)}..{_number(key.max)}")
    elif key.min is not None:
        bounds.append(f">= {_number(key.min)}")
    elif key.max is not None:
        bounds.append(f"<= {_number(key.max)}")
    if key.choices is not None:
        bounds.append("one of " + ", ".join(f"`{json.dumps(c)}`" for c in key.choices))
    text = key.doc.replace("|", "\\|")
    return f"{text} ({'; '.join(bounds)})" if bounds else text


def row(key: Key) -> str:
    return f"| `{key.name}` | {key.type.__name__} | {_default(key.default)} | {_meaning(key)} |"


def table(spec: Spec[Any]) -> list[str]:
    return [*_HEADER, *(row(k) for k in spec.keys.values())]


def _block(text: str) -> tuple[int, int, list[str]]:
    lines = text.splitlines()
    try:
        start, end = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise NoKeyTable("no generated key table (its marker lines are missing)") from None
    return start, end, lines


def drift(readme: str, spec: Spec[Any]) -> list[str]:
    """How the README's key table differs from the Spec, one finding a line."""
    try:
        start, end, lines = _block(readme)
    except NoKeyTable as exc:
        return [str(exc)]
    rows: dict[str, str] = {}
    for line in lines[start + 1 : end]:
        match = _ROW_KEY.match(line)
        if match:
            rows[match.group(1)] = line
    found = [f"{k}: in the Spec, not in the README" for k in spec.keys if k not in rows]
    found += [f"{k}: in the README, not in the Spec" for k in rows if k not in spec.keys]
    found += [
        f"{name}: README row {rows[name]!r}, Spec row {row(key)!r}"
        for name, key in spec.keys.items()
        if name in rows and rows[name] != row(key)
    ]
    if not found and lines[start + 1 : end] != table(spec):
        found.append("the table's header or row order differs from the Spec")
    return found


def regenerated(readme: str, spec: Spec[Any]) -> str:
    start, end, lines = _block(readme)
    out = [*lines[: start + 1], *table(spec), *lines[end:]]
    return "\n".join(out) + ("\n" if readme.endswith("\n") else "")


def documented() -> Iterator[tuple[Path, Spec[Any]]]:
    """(README, Spec) of every component that declares a Spec."""
    for package in sorted(p.name for p in COMPONENTS.iterdir() if (p / "README.md").is_file()):
        spec = component_spec(package)
        if spec is not None:
            yield COMPONENTS / package / "README.md", spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate the tables")
    args = parser.parse_args(argv)
    failed = False
    for readme, spec in documented():
        text = readme.read_text()
        if args.write:
            readme.write_text(regenerated(text, spec))
            continue
        for finding in drift(text, spec):
            failed = True
            print(f"{readme.relative_to(COMPONENTS.parent)}: {finding}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
