"""The console's configuration (recipes/Console.yaml's DefaultConfiguration is checked against
this Spec): the same keys whether it runs as the status-page component (from the nucleus) or
as the technician's `floorline` command (from a JSON file). The device name is the thing name
from the environment (AWS_IOT_THING_NAME), as for every component; `--device` overrides it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.core.config import (
    Config,
    ConfigError,
    Key,
    Spec,
    check_bind_address,
    check_site,
)
from components.core.ipc import STANDALONE_CONFIG_ENV
from components.core.log.config import LOG_KEYS

# The technician's shell has no nucleus to ask: the command reads this file when it exists.
DEFAULT_CONFIG_FILE = "/etc/floorline/console.json"
CONFIG_FILE_ENV = "FLOORLINE_CONSOLE_CONFIG"

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _check_token_hash(value: str) -> str:
    value = value.strip().lower()
    if value and not _SHA256_HEX.match(value):
        raise ValueError("expected the sha256 of the token as 64 hex digits (or empty: page off)")
    return value


def _check_str_list(value: list[Any]) -> list[str]:
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of non-empty strings, got {value!r}")
    return list(value)


SPEC = Spec(
    *LOG_KEYS,
    Key(
        "siteId", str, "unassigned", "the site of this device (shown on the page)", check=check_site
    ),
    Key(
        "bindAddress",
        str,
        "0.0.0.0",
        "address of the status page (0.0.0.0: the site LAN)",
        check=check_bind_address,
    ),
    Key("port", int, 8080, "TCP port of the status page (0: any free port)", min=0, max=65535),
    Key(
        "statusTokenSha256",
        str,
        "",
        "sha256 (hex) of the status page token; empty: the page refuses to start",
        check=_check_token_hash,
    ),
    Key("refreshSeconds", float, 5.0, "how often the page reloads itself", min=1),
    Key("tlsCertPath", str, "", "PEM certificate chain of the page; empty: plain HTTP"),
    Key("tlsKeyPath", str, "", "PEM private key of that certificate"),
    Key(
        "components",
        list,
        ["Sensors", "Rfid", "Analytics", "Uplink", "HttpIngest"],
        "components expected on this device (unknown until each reports its state)",
        check=_check_str_list,
    ),
    Key(
        "componentStaleSeconds",
        float,
        120.0,
        "a component without a heartbeat, or a source without a reading, for this long is "
        "shown as stale",
        min=1,
    ),
    Key("uplinkConsumerPrefix", str, "uplink", "log consumers whose acks mean 'sent'"),
    Key(
        "offlineAfterSeconds",
        float,
        300.0,
        "unsent backlog older than this means the uplink is not getting through",
        min=1,
    ),
    Key("ledPin", str, "GPIO17", "the status LED's pin (gpiozero pin name)"),
    Key("brokerHost", str, "", "MQTT endpoint `doctor` connects to (empty: not checked)"),
    Key("brokerPort", int, 8883, "MQTT port `doctor` connects to", min=1, max=65535),
    Key("componentUser", str, "ggc_user", "the user the components run as"),
    Key(
        "greengrassRoot",
        str,
        "/greengrass/v2",
        "the nucleus root folder (nucleus lite: its system.rootPath, /var/lib/greengrass)",
    ),
    Key(
        "nucleusSocket",
        str,
        "",
        "the nucleus IPC socket; empty: found under greengrassRoot by each nucleus's name",
    ),
    Key(
        "serialPorts",
        list,
        [],
        "serial device nodes `doctor` checks (empty: any found)",
        check=_check_str_list,
    ),
)

# Not configuration: how long the network probes of `doctor` and `status` wait.
CONNECT_TIMEOUT_S = 3.0


class ConfigFileError(Exception):
    """The configuration file could not be read or parsed."""


def load(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """The console configuration: `path` (or $FLOORLINE_CONSOLE_CONFIG, or the default file if
    present), else $FLOORLINE_CONFIG (JSON), then `overrides` (command-line flags)."""
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
    return SPEC.parse(raw)
