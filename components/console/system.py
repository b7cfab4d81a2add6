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
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_ntp_synchronized(out.stdout) if out.returncode == 0 else None


def parse_ntp_synchronized(text: str) -> bool | None:
    value = text.strip().lower()
    return {"yes": True, "no": False}.get(value)


def greengrass_cli_list(greengrass_root: str, timeout_s: float = 15.0) -> tuple[str | None, str]:
    """(output of `greengrass-cli component list`, "") or (None, why not). The Greengrass CLI
    is an optional component and answers only users in its AuthorizedPosixGroups (or root)."""
    exe = Path(greengrass_root) / "bin" / "greengrass-cli"
    if not exe.exists():
        return None, f"no {exe} (aws.greengrass.Cli not deployed)"
    try:
        out = subprocess.run([str(exe), "component", "list"], capture_output=True, text=True,
                             timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"greengrass-cli: {exc}"
    if out.returncode != 0:
        return None, f"greengrass-cli exit {out.returncode}: {out.stderr.strip()[:200]}"
    return out.stdout, ""


def parse_component_list(text: str) -> dict[str, str]:
    """{component name: lifecycle state} from `greengrass-cli component list` output
    ("Component Name: X" then "State: S" lines per component)."""
    states: dict[str, str] = {}
    name: str | None = None
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        if key == "Component Name":
            name = value.strip()
        elif key == "State" and name:
            states[name] = value.strip().upper()
            name = None
    return states


def nucleus_socket(greengrass_root: str) -> str:
    """The IPC socket: from the environment a component gets, else the nucleus's default."""
    return os.environ.get(SOCKET_ENV) or str(Path(greengrass_root) / "ipc.socket")


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
