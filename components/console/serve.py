"""The status page as a long-running component: serves while a token hash is configured,
idles (and says so) while none is, and reads the token hash in force at every request, so a
configuration update rotates it without a restart. Address and port apply at start."""

from __future__ import annotations

import logging
import threading
from typing import Any

from components.console import page, status
from components.console.config import ConsoleSettings
from components.core.clock import Clock
from components.core.config import ConfigHolder
from components.core.stopping import Stop
from components.core.tls import server_context

log = logging.getLogger("floorline.console.serve")

IDLE_CHECK_S = 1.0


def run(
    holder: ConfigHolder[ConsoleSettings],
    device: str,
    clock: Clock,
    stop: Stop,
    *,
    bind: str,
    port: int,
) -> int:
    """Serve until `stop` is set; returns the exit code (0). Raises OSError if the address
    cannot be bound or the certificate not used, TlsConfigError if only one of
    tlsCertPath / tlsKeyPath is set. TLS files apply at start, like the address."""
    if not holder.current.statusTokenSha256:
        log.warning(
            "event=status_page_off reason=no_token remedy='set statusTokenSha256 "
            "(floorline token makes one)'"
        )
        while not holder.current.statusTokenSha256:
            if stop.wait(IDLE_CHECK_S):
                return 0

    cache: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def report() -> dict[str, Any]:
        """Built at most once per refresh period: every viewer's reload is not a new round
        of log queries and subprocesses (timedatectl)."""
        cfg = holder.current
        with lock:
            now = clock.monotonic_ns()
            if cache and now - cache[0][0] < cfg.refreshSeconds * 1e9:
                return cache[0][1]
            built = status.build_status(status.gather(cfg, clock, device), cfg)
            cache[:] = [(now, built)]
            return built

    cfg = holder.current
    server = page.StatusServer(
        (bind, port),
        lambda: holder.current.statusTokenSha256,
        report,
        refresh_s=lambda: holder.current.refreshSeconds,
        tls=server_context(cfg.tlsCertPath, cfg.tlsKeyPath),
    )
    thread = threading.Thread(target=server.serve_forever, name="status-page", daemon=True)
    thread.start()
    log.info(
        "event=status_page_listening bind=%s port=%d tls=%s",
        bind,
        server.port,
        server.tls is not None,
    )
    try:
        while not stop.wait(0.5):
            pass  # woken by SIGTERM (stop set) or Ctrl-C (KeyboardInterrupt)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        log.info(
            "event=status_page_stopped served=%d denied=%d errors=%d",
            server.counts["served"],
            server.counts["denied"],
            server.counts["errors"],
        )
    return 0
