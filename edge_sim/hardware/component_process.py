"""Run a component as a process against the emulated hardware, as edge_sim and the tests do:
wait until it logs `event=started`, collect its stderr (Greengrass would capture it)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ComponentProcess:
    def __init__(self, module: str, args: list[str], env: dict[str, str]) -> None:
        env = {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "event=started" in line:
                self._started.set()

    def wait_started(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._started.is_set():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("component did not start:\n" + self.stderr)
            self._started.wait(0.05)

    def wait(self, timeout_s: float = 60.0) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(5)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)
