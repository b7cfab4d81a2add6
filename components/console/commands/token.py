"""`floorline token`: a status page token and its statusTokenSha256."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from components.console import page
from components.console.commands.common import Flags, Handler
from components.console.levels import EXIT_OK


def add_to(sub: Any, flags: Flags) -> None:
    sub.add_parser("token", help="make a status page token and its statusTokenSha256")


def make_token(out: Console) -> int:
    """Needs no configuration: it only prints a new token and its digest."""
    token, digest = page.new_token()
    out.print(f"token (give to people who may see the page): [bold]{token}[/]")
    out.print(f'configuration: "statusTokenSha256": "{digest}"')
    return EXIT_OK


# Runs before any configuration is loaded, so `main` calls `make_token` itself.
HANDLERS: dict[tuple[str, str | None], Handler] = {}
