"""The local IoT Core: a real Mosquitto with mutual TLS, one certificate per thing, an ACL.

    with Broker(workdir) as broker:
        files = broker.issue_device_cert("dev-001")
        cloud = broker.cloud_client()          # paho-mqtt, sees every topic
        link = broker.link("dev-001")          # the device's network: cut() / restore()

Mosquitto runs in the foreground as a child process on a free loopback port; its output is
captured to `<workdir>/mosquitto.log`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import BinaryIO

import paho.mqtt.client as mqtt

from components.core.envelope import EnvelopeError, validate_device
from edge_sim.ports import free_port

from .config import (
    CLOUD_USER,
    DEFAULT_LOG_TYPES,
    DEFAULT_MAX_QUEUED_MESSAGES,
    BrokerConfig,
    acl_text,
)
from .pki import CertFiles, LocalCA
from .proxy import NetworkLink

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
READY_RE = re.compile(rb"mosquitto version [0-9.]+ running")
STOP_TIMEOUT_S = 5.0


class BrokerError(RuntimeError):
    """Mosquitto could not start (or is missing); `.log_tail` holds its last words."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(f"{message}\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail


def mosquitto_binary() -> str:
    known = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
    for candidate in (shutil.which("mosquitto"), *known):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError(
        "mosquitto not found: run scripts/install-system-deps.sh "
        "(apt-get install mosquitto; brew install mosquitto on macOS)"
    )


class Broker:
    def __init__(
        self,
        workdir: Path,
        log_types: tuple[str, ...] = DEFAULT_LOG_TYPES,
        max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_types = log_types
        self.max_queued_messages = max_queued_messages
        self.ca = LocalCA(self.workdir / "pki")
        self.server_files = self.ca.issue_server()
        self.cloud_files = self.ca.issue_client(CLOUD_USER)
        self.acl_path = self.workdir / "acl"
        self.acl_path.write_text(acl_text())
        self.conf_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: BinaryIO | None = None
        self._log_offset = 0
        self._links: dict[str, NetworkLink] = {}
        self._devices: dict[str, CertFiles] = {}
        self._lock = threading.Lock()

    @property
    def ca_path(self) -> Path:
        return self.ca.ca_path

    # ---- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        binary = mosquitto_binary()
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            self.conf_path.write_text(
                BrokerConfig(
                    port=self.port,
                    ca=self.ca_path,
                    cert=self.server_files.cert,
                    key=self.server_files.key,
                    acl=self.acl_path,
                    log=self.log_path,
                    run_as_root=os.geteuid() == 0,
                    log_types=self.log_types,
                    max_queued_messages=self.max_queued_messages,
                ).text()
            )
            self._log_file = open(self.log_path, "ab")
            self._log_offset = self.log_path.stat().st_size
            self._proc = subprocess.Popen(
                [binary, "-c", str(self.conf_path)],
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Ctrl-C in the terminal interrupts the runner, which then drains through
                # the broker before stopping it: the broker must not take the SIGINT too.
                start_new_session=True,
            )
            if self._wait_ready():
                log.info("event=broker_started port=%d pid=%d", self.port, self._proc.pid)
                return
            self._reap()
            if "Address already in use" not in self.log_tail():
                break
        raise BrokerError("mosquitto did not start", self.log_tail())

    def _wait_ready(self) -> bool:
        """Ready once this run logs "running" (it has loaded the keys and bound the port)."""
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                if READY_RE.search(f.read()):
                    return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        for link in self._links.values():
            link.stop()
        self._links.clear()
        self._reap()
        log.info("event=broker_stopped port=%d", self.port)

    def _reap(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    @property
    def pid(self) -> int | None:
        """Mosquitto's process id while it runs (for CPU and memory accounting)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # ---- identities and network -----------------------------------------------------------

    def issue_device_cert(self, thing: str) -> CertFiles:
        """A client certificate whose CN is the thing name (reused if already issued)."""
        try:
            validate_device(thing)
        except EnvelopeError as exc:
            raise ValueError(str(exc)) from exc
        if thing == CLOUD_USER:
            raise ValueError(f"thing name {thing!r} is reserved for the cloud side")
        with self._lock:
            if thing not in self._devices:
                self._devices[thing] = self.ca.issue_client(thing)
            return self._devices[thing]

    def link(self, thing: str) -> NetworkLink:
        """The device's own path to the broker (created on first use)."""
        with self._lock:
            if thing not in self._links:
                self._links[thing] = NetworkLink(self.port, name=thing).start()
            return self._links[thing]

    def cloud_client(self, client_id: str | None = None, timeout_s: float = 10.0) -> mqtt.Client:
        """A connected paho-mqtt client (MQTT 3.1.1) with the cloud's certificate, loop running.
        The caller subscribes and must `loop_stop()` / `disconnect()` it."""
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"cloud-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        f = self.cloud_files
        client.tls_set(ca_certs=str(f.ca), certfile=str(f.cert), keyfile=str(f.key))
        connected = threading.Event()
        result: list[object] = []

        def on_connect(c, userdata, flags, reason_code, properties):  # noqa: ANN001
            result.append(reason_code)
            connected.set()

        client.on_connect = on_connect
        client.connect("127.0.0.1", self.port, keepalive=30)
        client.loop_start()
        if not connected.wait(timeout_s) or getattr(result[0], "is_failure", True):
            client.loop_stop()
            raise BrokerError(f"cloud client could not connect: {result}", self.log_tail())
        return client
