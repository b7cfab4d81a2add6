"""Bus selection, the gpiozero pin-factory idea applied to I2C and serial.

- I2C: a real `smbus2.SMBus(n)` on a Pi; edge_sim's emulated bus when the configuration says
  "sim" or the environment sets FLOORLINE_I2C_BUS=sim (the environment wins, so the same
  recipe configuration runs unchanged in edge_sim). The emulated chips come from the scenario
  file named by FLOORLINE_SIM_SCENARIO.
- Serial: always `serial.serial_for_url`, so a device path, a pty and `socket://` all work.
- GPIO: gpiozero pin factories; "mock" gives MockFactory with PWM-capable pins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_I2C_BUS = "FLOORLINE_I2C_BUS"
ENV_SIM_SCENARIO = "FLOORLINE_SIM_SCENARIO"
ENV_GPIO_FACTORY = "GPIOZERO_PIN_FACTORY"  # gpiozero's own variable
SIM = "sim"


class BusConfigError(ValueError):
    """A bus setting that names no usable bus."""


def i2c_choice(configured: int | str | None, env: Mapping[str, str] | None = None) -> int | str:
    """The bus to open: the environment's choice, else the configured one, else bus 1."""
    env = os.environ if env is None else env
    choice: int | str | None = env.get(ENV_I2C_BUS) or configured
    if choice is None or choice == "":
        return 1
    if isinstance(choice, str) and choice != SIM:
        try:
            return int(choice, 0)
        except ValueError:
            raise BusConfigError(f"I2C bus {choice!r} is neither a number nor 'sim'") from None
    return choice


def load_scenario(path: str | os.PathLike[str]) -> dict[str, Any]:
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        return dict(yaml.safe_load(text))
    return dict(json.loads(text))


def open_i2c(configured: int | str | None = None, *, clock: Any = None,
             scenario: Mapping[str, Any] | None = None,
             env: Mapping[str, str] | None = None) -> Any:
    """An smbus2.SMBus-compatible bus."""
    env = os.environ if env is None else env
    choice = i2c_choice(configured, env)
    if choice == SIM:
        from edge_sim.hardware.bus import build_bus
        from edge_sim.world.scenario import load

        if scenario is None:
            path = env.get(ENV_SIM_SCENARIO)
            scenario = load_scenario(path) if path else {"chips": []}
        return build_bus(load(scenario), clock)
    from smbus2 import SMBus

    return SMBus(int(choice))


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
