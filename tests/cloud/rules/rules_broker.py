"""A plain Mosquitto on a loopback port for the bridge's tests, which can be stopped and
started again on the same port (a broker restart as the bridge sees it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from edge_sim.ports import free_port

WAIT_S = 10.0


class Mosquitto:
    def __init__(self, folder: Path, *, anonymous: bool = True) -> None:
        """`anonymous=False`: a broker that refuses every client (none has a password)."""
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        allow = "true" if anonymous else "false"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous {allow}\npersistence false\n"
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        proc = subprocess.Popen([mosquitto, "-c", str(self.conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    err = proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"mosquitto did not start: {err!r}") from None
                time.sleep(0.05)
        self._proc = proc

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=WAIT_S)
            self._proc = None
