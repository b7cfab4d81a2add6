"""What every command group shares: the argument parser's error exit, the shared flags, the
handler signature, and the device and JSON helpers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from rich.console import Console

from components.console.config import ConsoleSettings
from components.console.levels import EXIT_USAGE
from components.core.clock import Clock
from components.core.ipc import thing_name

# A command: (parsed arguments, configuration, clock, console) -> exit code.
Handler = Callable[[argparse.Namespace, ConsoleSettings, Clock, Console], int]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class Flags:
    """Parent parsers a subcommand takes its flags from."""

    common: argparse.ArgumentParser  # --config, --log, --device
    as_json: argparse.ArgumentParser  # --json


def config_flags(args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """The configuration file the command line names, and the keys its flags override."""
    return getattr(args, "config", None), {"logPath": getattr(args, "log", None)}


def device(args: argparse.Namespace) -> str:
    return getattr(args, "device", None) or thing_name()


def print_json(out: Console, data: Any) -> None:
    out.print_json(json.dumps(data, default=str))
