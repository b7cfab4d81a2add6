"""Run command: `python -m components.http_ingest`.

Under Greengrass the configuration comes from the nucleus (and follows its updates); outside it,
from FLOORLINE_CONFIG (JSON). Stops cleanly on SIGTERM/SIGINT: stops accepting, lets the
requests in flight get their commit, closes the log.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
import sys
from collections.abc import Coroutine
from typing import Any

from components.core import component_state
from components.core.clock import SystemClock
from components.core.config import ConfigError
from components.core.ipc import connect, follow_updates, load_config, thing_name
from components.core.log.config import open_log
from components.http_ingest.commit_process import CommitFailed, CommitProcess
from components.http_ingest.config import SPEC, HttpIngestSettings
from components.http_ingest.guard import HttpLimits
from components.http_ingest.http import listening_socket, serve
from components.http_ingest.server import Ingest

log = logging.getLogger("floorline.http_ingest")


def tls_context(cfg: HttpIngestSettings) -> ssl.SSLContext | None:
    """The site certificate, when both files are configured."""
    if not cfg.tlsCertPath and not cfg.tlsKeyPath:
        return None
    if not (cfg.tlsCertPath and cfg.tlsKeyPath):
        raise ConfigError({"tlsCertPath": "tlsCertPath and tlsKeyPath go together"})
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg.tlsCertPath, cfg.tlsKeyPath)
    return ctx


async def run_server(
    cfg: HttpIngestSettings, ingest: Ingest, stop: asyncio.Event, tls: ssl.SSLContext | None
) -> None:
    sock = listening_socket(cfg.bindAddress, cfg.port)
    port = sock.getsockname()[1]
    log.info("event=listening address=%s port=%d tls=%s", cfg.bindAddress, port, tls is not None)
    print(f"listening port={port}", flush=True)  # the line tests and scripts wait for
    try:
        limits = HttpLimits(
            max_request_line_bytes=cfg.maxRequestLineBytes,
            max_header_bytes=cfg.maxHeaderBytes,
            max_headers=cfg.maxHeaders,
            header_timeout_s=cfg.headerTimeoutSeconds,
            max_connections=cfg.maxConnections,
            counters=ingest.counters,  # refusals show in /healthz with the other counts
        )
        await serve(
            ingest.handle,
            sock,
            tls=tls,
            stop=stop,
            limits=limits,
            idle_timeout_s=cfg.idleTimeoutSeconds,
        )
    finally:
        log.info("event=stopped")
        sock.close()


def _run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """uvloop (libuv) where installed: the same asyncio API, markedly less CPU per request."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    gg = connect()
    try:
        holder = load_config(SPEC, gg)
    except ConfigError as exc:
        log.error("event=config_invalid errors=%r", exc.errors)
        return 2
    cfg = holder.current
    try:
        tls = tls_context(cfg)
    except ConfigError as exc:
        log.error("event=config_invalid errors=%r", exc.errors)
        return 2
    except (OSError, ssl.SSLError) as exc:
        log.error("event=tls_unusable cert=%s error=%r", cfg.tlsCertPath, exc)
        return 2
    clock = SystemClock()
    state = component_state.Reporter(cfg.logPath, "HttpIngest", clock)
    thing = thing_name()
    lg = open_log(cfg, thing, clock)  # here for /healthz's reads; the commit process writes
    writer = CommitProcess(cfg, thing)
    ingest = Ingest(cfg, lg, writer, clock)
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise stall the event loop for tens of ms under load.
    gc.collect()
    gc.freeze()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def applied() -> None:  # runs on the IPC thread: hand the new config to the loop
            loop.call_soon_threadsafe(ingest.apply, holder.current)

        try:
            await writer.start()
        except CommitFailed as exc:
            log.error("event=commit_process_failed error=%s", exc)
            state.failed(f"commit process failed: {exc}")  # its last word: no later one
            return
        assert writer.died is not None
        lost = asyncio.create_task(writer.died.wait())
        lost.add_done_callback(lambda _: stop.set())  # exit: Greengrass restarts us whole
        follow_updates(holder, gg, on_applied=applied)
        state.running()
        try:
            await run_server(cfg, ingest, stop, tls)
        finally:
            lost.cancel()
            await writer.stop()

    try:
        _run_loop(run())
    finally:
        lg.close()
        if gg is not None:
            gg.close()
    if writer.died is not None and writer.died.is_set():
        state.failed("its commit process died")
        return 1
    state.stopped()
    return 0


if __name__ == "__main__":
    sys.exit(main())
