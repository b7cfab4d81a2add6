"""`floorline tables` and `floorline sql`: read-only, ad-hoc inspection of the log and the
component-state file (components/console/query.py)."""

from __future__ import annotations

from typing import Any

from components.console import query
from components.console.commands.common import Flags, Handler


def add_to(sub: Any, flags: Flags) -> None:
    query.add_commands(sub, [flags.common, flags.as_json])


HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("tables", None): lambda args, cfg, _clock, out: query.tables_command(args, cfg.logPath, out),
    ("sql", None): lambda args, cfg, _clock, out: query.sql_command(args, cfg.logPath, out),
}
