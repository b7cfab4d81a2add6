"""Bus selection, the gpiozero pin-factory idea applied to I2C and serial.

- I2C: a real `smbus2.SMBus(n)` on a Pi; any other bus by name from the `floorline.buses`
  entry-point group (as gpiozero finds pin factories in `gpiozero_pin_factories`). edge_sim
  registers "sim", its emulated bus; a device has no such package installed, so device code
  never imports the simulator. The environment's FLOORLINE_I2C_BUS wins over the
  configuration, so the same recipe configuration runs unchanged in edge_sim.
- Serial: always `serial.serial_for_url`, so a device path, a pty and `socket://` all work.
- GPIO: gpiozero pin factories; "mock" gives MockFactory with PWM-capable pins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

ENV_I2C_BUS = "FLOORLINE_I2C_BUS"
ENV_GPIO_FACTORY = "GPIOZERO_PIN_FACTORY"  # gpiozero's own variable
# Entry points in this group are callables `(clock, env) -> bus` returning an
# smbus2.SMBus-compatible object; the entry's name is what FLOORLINE_I2C_BUS or i2cBus selects.
BUS_GROUP = "floorline.buses"


class BusConfigError(ValueError):
    """A bus setting that names no usable bus."""


def i2c_choice(configured: int | str | None, env: Mapping[str, str] | None = None) -> int | str:
    """The bus to open: the environment's choice, else the configured one, else bus 1. A
    number is an adapter; any other string names a registered bus."""
    env = os.environ if env is None else env
    choice: int | str | None = env.get(ENV_I2C_BUS) or configured
    if choice is None or choice == "":
        return 1
    if isinstance(choice, str):
        try:
            return int(choice, 0)
        except ValueError:
            return choice
    return choice


def registered_buses() -> list[str]:
    """The names of the buses installed packages register (none on a device)."""
    return sorted({ep.name for ep in entry_points(group=BUS_GROUP)})


def open_i2c(
    configured: int | str | None = None, *, clock: Any = None, env: Mapping[str, str] | None = None
) -> Any:
    """An smbus2.SMBus-compatible bus."""
    env = os.environ if env is None else env
    choice = i2c_choice(configured, env)
    if isinstance(choice, str):
        for ep in entry_points(group=BUS_GROUP):
            if ep.name == choice:
                return ep.load()(clock, env)
        installed = ", ".join(registered_buses()) or "none"
        raise BusConfigError(
            f"I2C bus {choice!r} is neither a number nor a registered bus "
            f"(entry points {BUS_GROUP!r} installed here: {installed})"
        )
    from smbus2 import SMBus

    return SMBus(choice)


def open_serial(url: str, baudrate: int, timeout_s: float = 0.1) -> Any:
    """A serial port by URL: '/dev/serial0', '/dev/pts/3', 'socket://127.0.0.1:7000', 'loop://'."""
    import serial

    return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s)


def gpio_pin_factory(name: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """A gpiozero pin factory: 'mock' (tests, edge_sim), or None for gpiozero's default
    (lgpio on a Pi 5, then RPi.GPIO, pigpio, native)."""
    env = os.environ if env is None else env
    name = name or env.get(ENV_GPIO_FACTORY)
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    if name:
        from importlib.metadata import entry_points

        for ep in entry_points(group="gpiozero_pin_factories"):
            if ep.name.lower() == name.lower():
                return ep.load()()
        raise BusConfigError(f"no gpiozero pin factory named {name!r}")
    from gpiozero import Device

    return Device._default_pin_factory()
