"""The status page on a factory LAN: garbage, slow senders, idle connections, too many
connections, TLS, token rotation. Each against the real server over real sockets."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time

import pytest
from waiting import wait_for

from components.console import page
from components.console.sessions import Sessions
from components.core.tls import TlsConfigError, server_context

TOKEN = "t0ken-for-the-hardening-tests"
REPORT = {
    "device": "dev-9",
    "site": "s",
    "level": "OK",
    "now_wall_ms": 0,
    "led": {"state": "online", "meaning": "m", "reasons": [], "level": "OK"},
}


@pytest.fixture
def serve():
    servers = []

    def start(**kw):
        token = kw.pop("token", page.token_hash(TOKEN))
        server = page.StatusServer(("127.0.0.1", 0), token, lambda: REPORT, **kw)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _raw(port: int, data: bytes, timeout_s: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass  # the server may cut a connection it will not serve
        return b"".join(chunks)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes `sock` (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /status HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    ],
)
def test_a_malformed_request_is_a_400_and_a_log_line_never_a_traceback(serve, caplog, garbage):
    server = serve()
    with caplog.at_level(logging.INFO):
        answer = _raw(server.port, garbage)
    assert answer.split(b"\r\n", 1)[0].split()[1] in (b"400", b"414", b"505")
    assert "Traceback" not in caplog.text and "event=bad_request" in caplog.text
    assert server.counts["bad_requests"] >= 1
    assert server.counts["errors"] == 0
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/login")
    assert conn.getresponse().status == 200  # and it goes on serving


def test_headers_must_arrive_in_time_even_trickled(serve):
    server = serve(header_timeout_s=1.0, idle_timeout_s=5.0)
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"GET /status HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 6 and not closed:
            try:
                s.sendall(b"X")  # a byte at a time, each well within the idle timeout
            except OSError:
                closed = True
                break
            closed = _closed_within(s, 0.3)
        assert closed and time.monotonic() - started < 4
    assert server.counts["bad_requests"] >= 1


@pytest.mark.slow
def test_idle_connections_are_bounded_in_number_and_in_time(serve):
    server = serve(max_connections=3, idle_timeout_s=1.5, header_timeout_s=30)
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", server.port))
    assert _closed_within(extra, 2.0), "a fourth connection was kept"
    assert server.counts["refused_busy"] == 1
    assert all(_closed_within(s, 5.0) for s in idle), "idle connections were kept"
    for s in [*idle, extra]:
        s.close()
    time.sleep(0.3)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/login")
    assert conn.getresponse().status == 200  # the slots came back


def test_rotating_the_token_signs_every_browser_out(serve):
    current = [page.token_hash(TOKEN)]
    server = serve(token=lambda: current[0])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "POST",
        "/login",
        body=f"token={TOKEN}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    resp = conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie").split(";")[0]

    def status() -> int:
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        c.request("GET", "/status.json", headers={"Cookie": cookie})
        return c.getresponse().status

    assert status() == 200
    current[0] = page.token_hash("the-new-one")
    assert status() == 401


def test_sessions_expire_and_are_bounded():
    now = [0.0]
    sessions = Sessions(ttl_s=10, max_sessions=2, monotonic=lambda: now[0])
    a, b = sessions.create("h"), sessions.create("h")
    assert sessions.valid(a, "h") and not sessions.valid(a, "other")
    c = sessions.create("h")  # the oldest (a, already dropped by the wrong hash) goes
    assert sessions.valid(b, "h") and sessions.valid(c, "h")
    now[0] = 11
    assert not sessions.valid(b, "h") and len(sessions) == 1


def test_an_oversized_sign_in_form_is_refused(serve):
    server = serve()
    answer = _raw(server.port, b"POST /login HTTP/1.1\r\nContent-Length: 99999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400")


@pytest.fixture
def certificate(tmp_path):
    """The page's certificate for localhost and 127.0.0.1, issued by a site CA (the local
    broker's PKI): (cert, key, ca)."""
    from edge_sim.broker.pki import LocalCA

    files = LocalCA(tmp_path / "pki").issue_server()
    return files.cert, files.key, files.ca


def test_tls_when_a_certificate_is_configured(serve, certificate):
    cert, key, ca = certificate
    server = serve(tls=server_context(str(cert), str(key)))
    ctx = ssl.create_default_context(cafile=str(ca))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    conn.request(
        "POST",
        "/login",
        body=f"token={TOKEN}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    resp = conn.getresponse()
    assert resp.status == 303 and "; Secure" in resp.getheader("Set-Cookie")
    # Plain HTTP to the TLS port: refused, counted, and the server goes on.
    answer = _raw(server.port, b"GET /status HTTP/1.1\r\n\r\n")
    assert not answer.startswith(b"HTTP/1.0 200")
    # counted in the connection's thread
    wait_for(lambda: server.counts["bad_requests"] == 1, what="the plain-HTTP request counted")
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    conn.request("GET", "/login")
    assert conn.getresponse().status == 200
    with pytest.raises(TlsConfigError):
        server_context(str(cert), "")
