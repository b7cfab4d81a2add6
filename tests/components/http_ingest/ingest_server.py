"""The ingest server as a real subprocess on a free loopback port, and test records."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOKENS = {"pos-17": "tok-pos-17-secret", "pos-18": "tok-pos-18-secret", "gate-1": "tok-gate-1"}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def auth(device: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[device]}"}


def sale(device: str = "pos-17", total: int = 1250, msg_id: str | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "device": device,
        "type": "pos_sale",
        "data": {
            "receipt_id": f"r-{total}",
            "total_cents": total,
            "currency": "EUR",
            "lines": [{"sku": "coffee", "quantity": 1, "unit_price_cents": total}],
        },
    }
    if msg_id is not None:
        rec["id"] = msg_id
    return rec


class Server:
    """`python -m components.http_ingest` with FLOORLINE_CONFIG, as a device runs it."""

    def __init__(self, log_path: Path, **config: Any) -> None:
        self.log_path = log_path
        self.config = {
            "logPath": str(log_path),
            "freeDiskFloorBytes": 0,
            "bindAddress": "127.0.0.1",
            "port": 0,
            "tokenSha256ByDevice": {d: digest(t) for d, t in TOKENS.items()},
            "maxRecordsPerSecondPerDevice": 1e6,
            "burstRecordsPerDevice": 1_000_000,
            **config,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.config.get("tlsCertPath") else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "FLOORLINE_CONFIG": json.dumps(self.config),
            "AWS_IOT_THING_NAME": "gw-1",
        }
        for k in ("SVCUID", "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"):
            env.pop(k, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "components.http_ingest"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("listening port="), f"server did not start: {line!r}"
        self.port = int(line.strip().split("=")[1])
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.fixture
def make_server(tmp_path) -> Iterator[Any]:
    """Fresh ingest server processes, each with its own configuration; stopped afterwards."""
    started: list[Server] = []

    def make(**config: Any) -> Server:
        srv = Server(config.pop("log_path", tmp_path / "log.sqlite"), **config).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        if srv.alive():
            srv.stop()
