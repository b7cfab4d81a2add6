"""`floorline led test`: the status LED's patterns, one after another."""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from typing import Any

from rich.console import Console

from components.console.commands.common import Flags, Handler, Parser
from components.console.config import ConsoleSettings
from components.console.levels import EXIT_CANNOT_RUN, EXIT_OK
from components.core.clock import Clock
from components.lib.gpio import status as led

log = logging.getLogger("floorline.console")


def add_to(sub: Any, flags: Flags) -> None:
    ledp = sub.add_parser("led", help="the status LED").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    lt = ledp.add_parser("test", parents=[flags.common], help="show each LED pattern in turn")
    lt.add_argument("--pin", default=None, help="gpiozero pin (default ledPin)")
    lt.add_argument(
        "--seconds-each", type=float, default=3.0, help="how long each pattern shows (default 3 s)"
    )


def led_test(args: argparse.Namespace, cfg: ConsoleSettings, clock: Clock, out: Console) -> int:
    from gpiozero import LED
    from gpiozero.exc import GPIOZeroError, PinFactoryFallback

    pin = args.pin or cfg.ledPin
    seconds = args.seconds_each
    # gpiozero warns once per pin library it cannot use before it gives up: off a Pi that
    # is four warnings ahead of the one message that matters. Keep them for the FAIL line.
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always", PinFactoryFallback)
        try:
            device = LED(pin)
        except (GPIOZeroError, OSError) as exc:
            tried = "; ".join(
                str(w.message).removeprefix("Falling back from ")
                for w in fallbacks
                if issubclass(w.category, PinFactoryFallback)
            )
            out.print(
                f"[bold red]FAIL[/] cannot drive LED on {pin}: {exc}"
                + (f"\n  pin libraries tried: {tried}" if tried else "")
                + "\n  remedy: on a Pi, install python3-lgpio (Raspberry Pi OS has it) "
                "and check ledPin; off a Pi, GPIOZERO_PIN_FACTORY=mock"
            )
            return EXIT_CANNOT_RUN
    for w in fallbacks:
        log.info("event=pin_factory_fallback reason=%r", str(w.message))
    try:
        for state in (led.ONLINE, led.OFFLINE_BUFFERING, led.FAULT, led.OFF):
            out.print(f"LED {pin}: [bold]{state}[/] - {led.MEANINGS[state]}")
            led.show(device, state)
            time.sleep(seconds)
    finally:
        device.off()
        device.close()
    out.print("[green]OK[/] all patterns shown; the LED is off")
    return EXIT_OK


HANDLERS: dict[tuple[str, str | None], Handler] = {("led", "test"): led_test}
