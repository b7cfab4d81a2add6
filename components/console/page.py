"""The local status page: `floorline status` as HTML (`/status`) and JSON (`/status.json`).

Who may see it: a browser signs in at `/login` with the token (a form; the token never goes
in a URL) and then carries a session cookie (HttpOnly, SameSite=Strict, Secure over TLS);
a script sends `Authorization: Bearer <token>`. The configuration holds only the token's
sha256 (`statusTokenSha256`), compared in constant time. Not signed in: `/` and `/status`
answer 401 with the sign-in form, `/status.json` 401 JSON; a wrong token: 403.

Hardened for a factory LAN: TLS when a certificate is configured; a request's line and
headers must arrive within `header_timeout_s`, and an idle connection is closed after
`idle_timeout_s`; at most `max_connections` at once (more are closed at once, counted);
a malformed request gets 400 and a log line, never a traceback; a browser that goes away
mid-answer is counted, not logged as an error. The token never reaches the request log
(only the path is logged).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from components.console.levels import Level
from components.console.sessions import COOKIE, Sessions
from components.console.views import Table, status_tables

log = logging.getLogger("floorline.console.page")

Report = Callable[[], Mapping[str, Any]]

HEADER_TIMEOUT_S = 10.0  # request line and headers complete within this (slow senders)
IDLE_TIMEOUT_S = 10.0  # a connection that sends nothing this long is closed
MAX_CONNECTIONS = 32  # open connections at once; the LAN page needs a handful
MAX_FORM_BYTES = 1024  # the sign-in form's body
PAGES = ("/", "/status")
JSON_PATH = "/status.json"


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


# --------------------------------------------------------------------------- HTML
_CSS = """body{font-family:system-ui,sans-serif;margin:1em;color:#222;font-size:16px}
h1{font-size:1.3em}h2{font-size:1.05em;margin:1em 0 .2em}.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.3em 0 .6em}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}td.v,th{white-space:nowrap}td.t{overflow-wrap:break-word}
.OK{color:#1a7f37}
.WARN{color:#9a6700}.FAIL{color:#cf222e;font-weight:bold}.UNKNOWN,.SKIP{color:#777}
.note{color:#555;font-size:.9em}form.inline{display:inline}
input,button{font-size:1em;padding:.4em}input[type=password]{width:100%;max-width:24em}
@media (max-width:600px){body{margin:.5em}td,th{padding:.2em .3em;font-size:.9em}}"""

_HEAD = (
    "<!doctype html><html><head><meta charset='utf-8'>"
    "<meta name='viewport' content='width=device-width,initial-scale=1'>"
)


def _badge(level: Level) -> str:
    return f'<span class="{level.name}">{level.name}</span>'


def render_html(report: Mapping[str, Any], tables: list[Table], refresh_s: float = 5.0) -> str:
    e = html.escape
    parts = [
        _HEAD,
        f"<meta http-equiv='refresh' content='{max(1, round(refresh_s))}'>",
        f"<title>floorline {e(str(report['device']))}</title><style>{_CSS}</style></head><body>",
        f"<h1>floorline {e(str(report['device']))} {_badge(Level[report['level']])}</h1>",
        f"<div class='note'>site {e(str(report.get('site', '-')))}; times UTC "
        "<form class='inline' method='post' action='/logout'><button>sign out</button>"
        "</form></div>",
    ]
    for t in tables:
        verdicts = any(r.level is not None for r in t.rows)
        badge = _badge(t.level) if t.level is not None else ""
        parts.append(f"<h2>{e(t.title)} {badge}</h2><div class='scroll'><table><tr>")
        parts.append(
            ("<th></th>" if verdicts else "")
            + "".join(f"<th>{e(c)}</th>" for c in t.columns)
            + "</tr>"
        )
        for r in t.rows:
            # Values (names, states, numbers, times) never wrap: the table scrolls sideways
            # on a phone instead; free text wraps between words.
            cells = "".join(
                f"<td class='{'t' if i in t.text_columns else 'v'}'>{e(c)}</td>"
                for i, c in enumerate(r.cells)
            )
            lead = (
                f"<td class='v'>{_badge(r.level)}</td>"
                if r.level is not None
                else ("<td></td>" if verdicts else "")
            )
            parts.append(f"<tr>{lead}{cells}</tr>")
        parts.append("</table></div>")
        if t.note:
            parts.append(f"<div class='note'>{e(t.note)}</div>")
    parts.append("</body></html>")
    return "".join(parts)


def render_login(message: str = "") -> str:
    note = f"<p class='FAIL'>{html.escape(message)}</p>" if message else ""
    return (
        f"{_HEAD}<title>floorline: sign in</title><style>{_CSS}</style></head><body>"
        "<h1>floorline status page</h1>"
        "<p>Sign in with the page token (ask whoever deployed this device; "
        "<code>floorline token</code> makes one).</p>"
        + note
        + "<form method='post' action='/login'><p><label>token<br>"
        "<input type='password' name='token' autocomplete='current-password' required "
        "autofocus></label></p><p><button>sign in</button></p></form></body></html>"
    )


# --------------------------------------------------------------------------- the handler
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer
    server_version = "floorline-status"
    sys_version = ""
    default_request_version = "HTTP/1.0"  # even garbage gets a status line, not bare HTML

    def setup(self) -> None:
        # Every read and write on the socket waits at most this long (idle connections).
        self.request.settimeout(self.server.idle_timeout_s)
        super().setup()

    # -- request parsing: a deadline for the whole header, not only for each read
    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.server.headers_complete(self.connection)
        return ok

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        # http.server's own complaints (malformed request line, bad headers, timeouts):
        # one line, never the request line (it may hold anything), never a traceback.
        self.server.count("bad_requests")
        log.warning(
            "event=bad_request client=%s reason=%r", self.client_address[0], (format % args)[:200]
        )

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info(
            "event=request client=%s method=%s path=%s status=%s",
            self.client_address[0],
            getattr(self, "command", "-"),
            self._path(),
            args[1] if len(args) > 1 else "-",
        )

    def _path(self) -> str:
        try:
            return urlsplit(getattr(self, "path", "") or "").path[:200] or "-"
        except ValueError:
            return "-"

    # -- answers
    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str,
        head: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(code)
            for name, value in {**_SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError):
            self.server.count("gone")  # the browser went away mid-answer: nothing to tell
            self.close_connection = True

    def _json(
        self, code: int, data: Any, head: bool = False, extra: Mapping[str, str] | None = None
    ) -> None:
        self._send(code, json.dumps(data, indent=1).encode(), "application/json", head, extra)

    def _login_page(
        self,
        code: int,
        message: str = "",
        head: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self._send(code, render_login(message).encode(), "text/html; charset=utf-8", head, extra)

    def _session(self) -> str | None:
        raw = self.headers.get("Cookie")
        if not raw:
            return None
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            return None
        return jar[COOKIE].value if COOKIE in jar else None

    def _bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _cookie(self, value: str, max_age: int) -> dict[str, str]:
        secure = "; Secure" if self.server.tls else ""
        return {
            "Set-Cookie": f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={max_age}{secure}"
        }

    # -- routes
    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._get(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._get(head=False)

    def _get(self, head: bool) -> None:
        path = self._path()
        if path == "/login":
            self._login_page(200, head=head)
            return
        if path not in (*PAGES, JSON_PATH):
            self._json(404, {"error": "not found"}, head)
            return
        expected = self.server.token_sha256
        bearer = self._bearer()
        if bearer is not None:
            denied = authorise(bearer, expected)
        else:
            denied = None if self.server.sessions.valid(self._session(), expected) else 401
        if denied is not None:
            self.server.count("denied")
            if path == JSON_PATH or denied == 403:
                self._json(
                    denied,
                    {
                        "error": {
                            401: "sign in at /login, or send Authorization: Bearer <token>",
                            403: "wrong token",
                        }[denied]
                    },
                    head,
                    {"WWW-Authenticate": 'Bearer realm="floorline"'} if denied == 401 else None,
                )
            else:
                in_url = "token" in parse_qs(urlsplit(self.path).query)
                self._login_page(
                    401,
                    "a token in the address is not accepted (it would be "
                    "kept in browser history): sign in here"
                    if in_url
                    else "",
                    head,
                )
            return
        try:
            report = self.server.report()
        except Exception as exc:  # the page must say why, not die (log missing, busy...)
            self.server.count("errors")
            log.error("event=status_failed error=%r", exc)
            self._json(503, {"error": str(exc)}, head)
            return
        self.server.count("served")
        if path == JSON_PATH:
            self._json(200, report, head)
        else:
            page = render_html(report, status_tables(report), self.server.refresh_s)
            self._send(200, page.encode(), "text/html; charset=utf-8", head)

    def do_POST(self) -> None:  # noqa: N802
        path = self._path()
        if path == "/logout":
            self.server.sessions.drop(self._session())
            self._send(303, b"", "text/plain", extra={"Location": "/login", **self._cookie("", 0)})
            return
        if path != "/login":
            self._json(405, {"error": "read-only"}, extra={"Allow": "GET, HEAD"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_FORM_BYTES:
            self.server.count("bad_requests")
            self._login_page(400, "the sign-in form was not understood")
            self.close_connection = True
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        expected = self.server.token_sha256
        denied = authorise(token, expected)
        if denied is not None:
            self.server.count("denied")
            self._login_page(denied, "wrong token" if token else "the token is required")
            return
        sid = self.server.sessions.create(expected)
        log.info(
            "event=signed_in client=%s sessions=%d",
            self.client_address[0],
            len(self.server.sessions),
        )
        self._send(
            303,
            b"",
            "text/plain",
            extra={"Location": "/status", **self._cookie(sid, int(self.server.sessions.ttl_s))},
        )

    def do_PUT(self) -> None:  # noqa: N802
        self._json(405, {"error": "read-only"}, extra={"Allow": "GET, HEAD"})

    do_DELETE = do_PATCH = do_PUT  # noqa: N815


# --------------------------------------------------------------------------- the server
class StatusServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        token_sha256: str | Callable[[], str],
        report: Report,
        refresh_s: float | Callable[[], float] = 5.0,
        *,
        tls: ssl.SSLContext | None = None,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        sessions: Sessions | None = None,
    ) -> None:
        """`token_sha256` and `refresh_s` may be callables: read at every request, so a
        configuration update (token rotation) applies at once."""
        self._token = token_sha256 if callable(token_sha256) else (lambda: token_sha256)
        self._refresh = refresh_s if callable(refresh_s) else (lambda: refresh_s)
        if not self._token():
            raise PageDisabled(
                "statusTokenSha256 is empty: the status page stays off (floorline token makes one)"
            )
        self.report = report
        self.tls = tls
        self.header_timeout_s = header_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.sessions = sessions or Sessions()
        self.counts: dict[str, int] = {
            "served": 0,
            "denied": 0,
            "errors": 0,
            "bad_requests": 0,
            "gone": 0,
            "refused_busy": 0,
        }
        self._counts_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._deadlines: dict[int, threading.Timer] = {}
        super().__init__(address, _Handler)

    def count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    # A connection holds a slot from accept to close; one over the limit is closed at once.
    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.count("refused_busy")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's own thread: the header deadline starts, then the TLS
        handshake (so a slow handshake holds up nobody else), then the request."""
        timer = threading.Timer(self.header_timeout_s, self._too_slow, (request,))
        timer.daemon = True
        self._deadlines[id(request)] = timer
        timer.start()
        try:
            if self.tls is not None:
                request.settimeout(self.idle_timeout_s)
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.count("bad_requests")
                    log.warning(
                        "event=tls_handshake_failed client=%s reason=%r",
                        client_address[0],
                        str(exc)[:200],
                    )
                    return
                self._deadlines[id(request)] = timer
            super().finish_request(request, client_address)
        finally:
            timer.cancel()
            self._deadlines.pop(id(request), None)

    def headers_complete(self, request: Any) -> None:
        timer = self._deadlines.pop(id(request), None)
        if timer is not None:
            timer.cancel()

    def _too_slow(self, request: Any) -> None:
        self.count("bad_requests")
        log.warning(
            "event=request_too_slow reason='headers not complete in %gs'", self.header_timeout_s
        )
        try:
            request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Anything that escaped the handler: one line, counted; the server goes on.
        import sys

        self.count("errors")
        log.error("event=request_failed client=%s error=%r", client_address[0], sys.exc_info()[1])

    @property
    def token_sha256(self) -> str:
        return self._token()

    @property
    def refresh_s(self) -> float:
        return self._refresh()

    @property
    def port(self) -> int:
        return self.server_address[1]
