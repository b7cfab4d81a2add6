"""The console's configuration (recipes/Console.yaml's DefaultConfiguration is checked against
this Spec): the same keys whether it runs as the status-page component (from the nucleus) or
as the technician's `floorline` command (from a JSON file). The device name is the thing name
from the environment (AWS_IOT_THING_NAME), as for every component; `--device` overrides it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.core.config import (
    ConfigError,
    Spec,
    check_bind_address,
    check_site,
    setting,
)
from components.core.ipc import STANDALONE_CONFIG_ENV
from components.core.log.config import LogSettings

# The technician's shell has no nucleus to ask: the command reads this file when it exists.
DEFAULT_CONFIG_FILE = "/etc/floorline/console.json"
CONFIG_FILE_ENV = "FLOORLINE_CONSOLE_CONFIG"

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _check_token_hash(value: str) -> str:
    value = value.strip().lower()
    if value and not _SHA256_HEX.match(value):
        raise ValueError("expected the sha256 of the token as 64 hex digits (or empty: page off)")
    return value


def _check_str_list(value: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of non-empty strings, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class ConsoleSettings(LogSettings):
    """The console's settings: one field per configuration key."""

    siteId: str = setting(
        "unassigned", "the site of this device (shown on the page)", check=check_site
    )
    bindAddress: str = setting(
        "0.0.0.0", "address of the status page (0.0.0.0: the site LAN)", check=check_bind_address
    )
    port: int = setting(8080, "TCP port of the status page (0: any free port)", min=0, max=65535)
    statusTokenSha256: str = setting(
        "",
        "sha256 (hex) of the status page token; empty: the page refuses to start",
        check=_check_token_hash,
    )
    refreshSeconds: float = setting(5.0, "how often the page reloads itself", min=1)
    tlsCertPath: str = setting("", "PEM certificate chain of the page; empty: plain HTTP")
    tlsKeyPath: str = setting("", "PEM private key of that certificate")
    components: tuple[str, ...] = setting(
        ["Sensors", "Rfid", "Analytics", "Uplink", "HttpIngest"],
        "components expected on this device (unknown until each reports its state)",
        check=_check_str_list,
        raw=list,
    )
    componentStaleSeconds: float = setting(
        120.0,
        "a component without a heartbeat, or a source without a reading, for this long is "
        "shown as stale",
        min=1,
    )
    uplinkConsumerPrefix: str = setting("uplink", "log consumers whose acks mean 'sent'")
    offlineAfterSeconds: float = setting(
        300.0, "unsent backlog older than this means the uplink is not getting through", min=1
    )
    ledPin: str = setting("GPIO17", "the status LED's pin (gpiozero pin name)")
    brokerHost: str = setting("", "MQTT endpoint `doctor` connects to (empty: not checked)")
    brokerPort: int = setting(8883, "MQTT port `doctor` connects to", min=1, max=65535)
    componentUser: str = setting("ggc_user", "the user the components run as")
    greengrassRoot: str = setting(
        "/greengrass/v2",
        "the nucleus root folder (nucleus lite: its system.rootPath, /var/lib/greengrass)",
    )
    nucleusSocket: str = setting(
        "", "the nucleus IPC socket; empty: found under greengrassRoot by each nucleus's name"
    )
    serialPorts: tuple[str, ...] = setting(
        [],
        "serial device nodes `doctor` checks (empty: any found)",
        check=_check_str_list,
        raw=list,
    )


SPEC = Spec(ConsoleSettings)

# Not configuration: how long the network probes of `doctor` and `status` wait.
CONNECT_TIMEOUT_S = 3.0


class ConfigFileError(Exception):
    """The configuration file could not be read or parsed."""


def read(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The console configuration as JSON, unchecked: `path` (or $FLOORLINE_CONSOLE_CONFIG, or
    the default file if present), else $FLOORLINE_CONFIG (JSON), then `overrides`
    (command-line flags; None: not given)."""
    raw: dict[str, Any] = {}
    candidate = path or os.environ.get(CONFIG_FILE_ENV)
    if candidate is None and Path(DEFAULT_CONFIG_FILE).exists():
        candidate = DEFAULT_CONFIG_FILE
    if candidate is not None:
        try:
            raw = json.loads(Path(candidate).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigFileError(f"cannot read configuration {candidate}: {exc}") from exc
    elif os.environ.get(STANDALONE_CONFIG_ENV):
        try:
            raw = json.loads(os.environ[STANDALONE_CONFIG_ENV])
        except ValueError as exc:
            raise ConfigFileError(f"${STANDALONE_CONFIG_ENV} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError({"<root>": "expected a JSON object"})
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return raw


def load(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> ConsoleSettings:
    """The console configuration (`read`), checked."""
    return SPEC.parse(read(path, overrides))
