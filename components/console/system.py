"""Small probes of the machine the console runs on. Each returns a plain fact (or None when
it cannot be known); the verdicts are made elsewhere, by pure functions over these facts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from components.core.ipc import SOCKET_ENV


def timedatectl_synced(timeout_s: float = 3.0) -> bool | None:
    """systemd's NTPSynchronized, or None when timedatectl is absent or does not answer."""
    exe = shutil.which("timedatectl")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_ntp_synchronized(out.stdout) if out.returncode == 0 else None


def parse_ntp_synchronized(text: str) -> bool | None:
    value = text.strip().lower()
    return {"yes": True, "no": False}.get(value)


# Where each nucleus puts its IPC socket, under its root folder: the classic (Java) nucleus
# `<root>/ipc.socket` (developer guide, "Use the AWS IoT Device SDK to communicate with the
# Greengrass nucleus"); nucleus lite `<system.rootPath>/gg-ipc.socket` (ggipcd,
# modules/ggipcd/src/entry.c, GG_IPC_SOCKET_NAME), its root by default /var/lib/greengrass.
NUCLEUS_SOCKETS = (("classic nucleus", "ipc.socket"), ("nucleus lite", "gg-ipc.socket"))
LITE_DEFAULT_ROOT = "/var/lib/greengrass"


def nucleus_socket(greengrass_root: str, configured: str = "") -> tuple[str, str]:
    """(the IPC socket, which nucleus or who said so). The configured path wins; then the
    path the nucleus gives a component in its environment; then the first socket found the
    way each nucleus names it under `greengrass_root` (and nucleus lite's default root);
    with none found, the classic nucleus's path under `greengrass_root`."""
    if configured:
        return configured, "set in nucleusSocket"
    if os.environ.get(SOCKET_ENV):
        return os.environ[SOCKET_ENV], f"${SOCKET_ENV}"
    for root in dict.fromkeys((greengrass_root, LITE_DEFAULT_ROOT)):
        for nucleus, name in NUCLEUS_SOCKETS:
            path = Path(root) / name
            if path.exists():
                return str(path), nucleus
    return str(Path(greengrass_root) / NUCLEUS_SOCKETS[0][1]), "not found"


def unix_reachable(path: str, timeout_s: float) -> str | None:
    """None if a Unix socket accepts a connection at `path`, else why not."""
    if not Path(path).exists():
        return f"{path} does not exist"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(path)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    finally:
        sock.close()
    return None


def tcp_reachable(host: str, port: int, timeout_s: float) -> str | None:
    """None if a TCP connection to host:port opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
