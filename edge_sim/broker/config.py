"""Mosquitto configuration and ACL for the local IoT Core. Pure text builders.

The ACL is built from the project's topic scheme (components.core.topics), so the broker and
the components cannot disagree about where a device may publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from components.core import topics

CLOUD_USER: Final = "cloud"
DEFAULT_LOG_TYPES: Final = ("error", "warning", "notice", "information")
DEFAULT_MAX_QUEUED_MESSAGES: Final = 100_000


def device_write_pattern() -> str:
    """Everything under the device's own thing name (`%u` is the certificate's CN)."""
    return f"{topics.ROOT}/+/%u/#"


def device_read_pattern() -> str:
    """Only the commands addressed to the device."""
    return f"{topics.ROOT}/+/%u/{topics.COMMAND}/#"


def device_shadow_pattern() -> str:
    """The device's own shadows' reserved topics (the cloud IoT policy allows the same)."""
    return "$aws/things/%u/shadow/#"


def acl_text(cloud_user: str = CLOUD_USER) -> str:
    return "\n".join(
        [
            "# Devices: %u is the MQTT user name, i.e. the client certificate's Common Name.",
            f"pattern write {device_write_pattern()}",
            f"pattern read {device_read_pattern()}",
            f"pattern readwrite {device_shadow_pattern()}",
            "",
            "# The cloud side (rules engine, dashboards, command senders) sees everything.",
            f"user {cloud_user}",
            "topic readwrite #",
            "",
        ]
    )


@dataclass(frozen=True)
class BrokerConfig:
    port: int
    ca: Path
    cert: Path
    key: Path
    acl: Path
    log: Path
    run_as_root: bool  # Mosquitto started by root drops to `mosquitto` unless told otherwise
    log_types: tuple[str, ...] = DEFAULT_LOG_TYPES
    # Per client, beyond the in-flight window. Mosquitto's default (1000) silently drops a
    # burst to a busy cloud subscriber; the fleet's uplink after an outage is such a burst.
    max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES

    def text(self) -> str:
        lines = [
            "per_listener_settings false",
            "allow_anonymous false",
            "persistence false",
            f"max_queued_messages {self.max_queued_messages}",
            f"log_dest file {self.log}",
            *(f"log_type {t}" for t in self.log_types),
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"acl_file {self.acl}",
        ]
        if self.run_as_root:
            # Otherwise it drops to the `mosquitto` user, which cannot read our 0600 key files.
            lines.append("user root")
        lines += [
            f"listener {self.port} 127.0.0.1",
            f"cafile {self.ca}",
            f"certfile {self.cert}",
            f"keyfile {self.key}",
            "require_certificate true",
            "use_identity_as_username true",
            "tls_version tlsv1.2",
        ]
        return "\n".join(lines) + "\n"
