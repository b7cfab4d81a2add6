"""HTTP shell: the page, its JSON endpoint and a health check (standard library only).

GET /                 the dashboard page (polls /api/dashboard)
GET /api/dashboard    the document of model.build for ?site=&device=&range=
GET /healthz          {"ok": true, "stats": {...}}

Every request takes a fresh read-only snapshot of the lake and closes it before answering, so
the server holds no lock or handle between requests and a writer may run beside it.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import duckdb

from cloud.dashboard import model, snapshot
from cloud.dashboard.page import render_page
from components.core.clock import Clock

log = logging.getLogger("cloud.dashboard")
SNAPSHOT_ATTEMPTS: Final = 5  # a compaction may delete a file under a query; retry on a new list


@dataclass
class App:
    lake_root: Path
    clock: Clock
    settings: model.Settings = field(default_factory=model.Settings)
    refresh_s: float = 5.0
    stats: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    def dashboard(self, filters: model.Filters) -> dict[str, Any]:
        for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
            con: duckdb.DuckDBPyConnection | None = None
            try:
                con = snapshot.connect(snapshot.read_snapshot(self.lake_root))
                return model.build(con, filters, self.clock.wall_ms(), self.settings,
                                   pin=functools.partial(snapshot.pin, con))  # fmt: skip
            except duckdb.IOException as exc:  # a listed file vanished (compaction)
                self.count("snapshot_retries")
                log.warning("event=lake_changed attempt=%d error=%s", attempt, exc)
                if attempt == SNAPSHOT_ATTEMPTS:
                    raise snapshot.LakeChanged(f"lake kept changing under the query: {exc}"
                                               ) from exc  # fmt: skip
            finally:
                if con is not None:
                    con.close()
        raise AssertionError("unreachable")


def _handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "floorline-dashboard"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
            log.debug("event=http %s", format % args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                # The browser went away mid-answer (a reload, a closed tab): nothing to tell.
                app.count("client_gone")
                self.close_connection = True

        def _json(self, status: int, doc: Any) -> None:
            self._send(status, json.dumps(doc, default=str).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            url = urlsplit(self.path)
            app.count("requests")
            if url.path == "/":
                page = render_page(app.refresh_s).encode()
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif url.path == "/api/dashboard":
                self._dashboard(url.query)
            elif url.path == "/healthz":
                with app._lock:
                    stats = dict(app.stats)
                self._json(HTTPStatus.OK, {"ok": True, "stats": stats})
            else:
                app.count("not_found")
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path {url.path!r}"})

        def _dashboard(self, query: str) -> None:
            try:
                filters = model.Filters.from_query(parse_qs(query, keep_blank_values=True))
            except model.FilterError as exc:
                app.count("bad_filters")
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            try:
                doc = app.dashboard(filters)
            except (snapshot.LakeNotFound, sqlite3.Error) as exc:
                app.count("lake_missing")
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
                return
            except (snapshot.LakeChanged, duckdb.Error) as exc:
                app.count("query_errors")
                log.error("event=query_failed error=%s", exc)
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})
                return
            self._json(HTTPStatus.OK, doc)

    return Handler


def make_server(app: App, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to (host, port); port 0 picks a free one (see `.server_address`)."""
    server = ThreadingHTTPServer((host, port), _handler(app))
    server.daemon_threads = True
    return server
