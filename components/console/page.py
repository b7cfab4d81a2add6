"""The local status page: `floorline status` as HTML (`/status`) and JSON (`/status.json`).

Read-only (GET and HEAD only). Every request must carry the token, as `Authorization: Bearer
<token>` or `?token=<token>` (handy in a browser on the LAN); the configuration holds only its
sha256 (`statusTokenSha256`), compared in constant time. No token: 401; a wrong one: 403. The
token never reaches the request log (only the path is logged).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from components.console.levels import Level
from components.console.views import Table, status_tables

log = logging.getLogger("floorline.console.page")

Report = Callable[[], Mapping[str, Any]]


class PageDisabled(Exception):
    """No token hash is configured: the page stays off rather than open to the LAN."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random token and the hash to put in the configuration."""
    token = secrets.token_urlsafe(24)
    return token, token_hash(token)


def authorise(presented: str | None, expected_sha256: str) -> int | None:
    """None if allowed, else the HTTP status to answer (401 missing, 403 wrong)."""
    if not presented:
        return 401
    if not expected_sha256:  # the token was removed from the configuration: nobody gets in
        return 403
    if hmac.compare_digest(token_hash(presented), expected_sha256):
        return None
    return 403


def _presented_token(handler: BaseHTTPRequestHandler) -> str | None:
    auth = handler.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    values = parse_qs(urlsplit(handler.path).query).get("token")
    return values[0] if values else None


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.3em 0 1.2em}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left;vertical-align:top}h2{font-size:1.05em;margin-bottom:.2em}.OK{color:#1a7f37}
.WARN{color:#9a6700}.FAIL{color:#cf222e;font-weight:bold}.UNKNOWN,.SKIP{color:#777}
.note{color:#555;font-size:.9em}"""


def _badge(level: Level) -> str:
    return f'<span class="{level.name}">{level.name}</span>'


def render_html(report: Mapping[str, Any], tables: list[Table], refresh_s: float = 5.0) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{max(1, round(refresh_s))}'>",
        f"<title>floorline {e(str(report['device']))}</title><style>{_CSS}</style></head><body>",
        f"<h1>floorline {e(str(report['device']))} {_badge(Level[report['level']])}</h1>",
        f"<div class='note'>site {e(str(report.get('site', '-')))}</div>",
    ]
    for t in tables:
        verdicts = any(r.level is not None for r in t.rows)
        badge = _badge(t.level) if t.level is not None else ""
        parts.append(f"<h2>{e(t.title)} {badge}</h2><table><tr>")
        parts.append(("<th></th>" if verdicts else "") +
                     "".join(f"<th>{e(c)}</th>" for c in t.columns) + "</tr>")
        for r in t.rows:
            cells = "".join(f"<td>{e(c)}</td>" for c in r.cells)
            lead = f"<td>{_badge(r.level)}</td>" if r.level is not None else (
                "<td></td>" if verdicts else "")
            parts.append(f"<tr>{lead}{cells}</tr>")
        parts.append("</table>")
        if t.note:
            parts.append(f"<div class='note'>{e(t.note)}</div>")
    parts.append("</body></html>")
    return "".join(parts)


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer
    server_version = "floorline-status"
    sys_version = ""

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _deny(self, code: int, allow: str | None = None) -> None:
        body = json.dumps({"error": {401: "token required", 403: "wrong token",
                                     404: "not found", 405: "read-only"}[code]}).encode()
        self.send_response(code)
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="floorline"')
        if allow:
            self.send_header("Allow", allow)
        self._finish(body, "application/json", head=False)

    def _finish(self, body: bytes, ctype: str, head: bool) -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        path = urlsplit(self.path).path
        denied = authorise(_presented_token(self), self.server.token_sha256)
        if denied is not None:
            self.server.count("denied")
            self._deny(denied)
            return
        if path not in ("/", "/status", "/status.json"):
            self._deny(404)
            return
        try:
            report = self.server.report()
        except Exception as exc:  # the page must say why, not die (log missing, busy...)
            self.server.count("errors")
            log.error("event=status_failed error=%r", exc)
            self.send_response(503)
            self._finish(json.dumps({"error": str(exc)}).encode(), "application/json", head)
            return
        self.server.count("served")
        self.send_response(200)
        if path == "/status.json":
            self._finish(json.dumps(report, indent=1).encode(), "application/json", head)
        else:
            page = render_html(report, status_tables(report), self.server.refresh_s)
            self._finish(page.encode(), "text/html; charset=utf-8", head)

    def do_POST(self) -> None:  # noqa: N802
        self._deny(405, allow="GET, HEAD")

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The query may hold the token: log the path only.
        log.info("event=request client=%s path=%s status=%s", self.client_address[0],
                 urlsplit(self.path).path, args[1] if len(args) > 1 else "-")


class StatusServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], token_sha256: str | Callable[[], str],
                 report: Report, refresh_s: float | Callable[[], float] = 5.0) -> None:
        """`token_sha256` and `refresh_s` may be callables: read at every request, so a
        configuration update (token rotation) applies at once."""
        self._token = token_sha256 if callable(token_sha256) else (lambda: token_sha256)
        self._refresh = refresh_s if callable(refresh_s) else (lambda: refresh_s)
        if not self._token():
            raise PageDisabled("statusTokenSha256 is empty: the status page stays off "
                               "(floorline token makes one)")
        self.report = report
        self.counts: dict[str, int] = {"served": 0, "denied": 0, "errors": 0}
        self._counts_lock = threading.Lock()
        super().__init__(address, _Handler)

    def count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    @property
    def token_sha256(self) -> str:
        return self._token()

    @property
    def refresh_s(self) -> float:
        return self._refresh()

    @property
    def port(self) -> int:
        return self.server_address[1]
