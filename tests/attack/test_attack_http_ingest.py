"""Hostile clients against HTTP ingest, before any authentication: huge and endless request
heads, too many headers, silent and trickling connections, more connections than it serves.
Each must be refused with a clear answer and counted, memory must stay bounded, and a
legitimate client must still be served afterwards."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests
from ingest_server import Server, auth, sale

pytestmark = pytest.mark.slow


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _answer(sock: socket.socket, timeout_s: float = 10.0) -> tuple[int, dict]:
    """Status and JSON body of the one answer on `sock` (read to the close)."""
    sock.settimeout(timeout_s)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), data[:200]
    return int(head.split()[1]), json.loads(body) if body else {}


def _connect(srv: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=10)


def _healthz(srv: Server) -> dict:
    return requests.get(f"{srv.url}/healthz", timeout=10).json()["ingest"]


def _still_serves(srv: Server) -> None:
    r = requests.post(f"{srv.url}/v1/records", json=sale(), headers=auth("pos-17"), timeout=10)
    assert r.status_code == 202, r.text


def _send_all(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused and closed before the rest arrived: the answer is what counts


def test_huge_headers_are_refused_and_memory_stays_bounded(make_server):
    srv = make_server()
    _still_serves(srv)
    before = _rss_kib(srv.proc.pid)
    for _ in range(4):  # before: 16 MiB of headers grew the process by 386 MiB
        with _connect(srv) as s:
            _send_all(s, b"POST /v1/records HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (16 << 20))
            status, body = _answer(s)
        assert (status, body["error"]) == (431, "headers_too_large")
    grown_mib = (_rss_kib(srv.proc.pid) - before) / 1024
    assert grown_mib < 32, f"RSS grew {grown_mib:.0f} MiB under 64 MiB of headers"
    assert _healthz(srv)["head_too_large"] == 4
    _still_serves(srv)


def test_too_many_headers_and_a_too_long_request_line_are_refused(make_server):
    srv = make_server()
    with _connect(srv) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(100)))
        s.sendall(b"\r\n")
        assert _answer(s)[0] == 431
    with _connect(srv) as s:
        s.sendall(b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(s)[0] == 414
    counters = _healthz(srv)
    assert counters["too_many_headers"] == 1 and counters["request_line_too_long"] == 1
    _still_serves(srv)


def test_silent_and_trickling_connections_are_closed_after_the_header_timeout(make_server):
    srv = make_server(headerTimeoutSeconds=1.0)
    silent = [_connect(srv) for _ in range(20)]
    trickle = _connect(srv)
    trickle.sendall(b"POST /v1/records HTTP/1.1\r\n")
    started = time.monotonic()
    for _ in range(6):  # one header byte at a time, never finishing: before, open forever
        try:
            trickle.sendall(b"X")
        except OSError:
            break
        time.sleep(0.5)
    assert _answer(trickle)[0] == 408
    for s in silent:
        assert _answer(s)[0] == 408
        s.close()
    trickle.close()
    assert time.monotonic() - started < 60  # closed by the server, not by our read timeout
    assert _healthz(srv)["header_timeouts"] == 21
    _still_serves(srv)


def test_connections_past_the_cap_get_a_clear_refusal(make_server):
    srv = make_server(maxConnections=8, headerTimeoutSeconds=30.0)
    held = [_connect(srv) for _ in range(8)]
    time.sleep(0.3)  # let the server accept them
    with _connect(srv) as extra:
        status, body = _answer(extra)
    assert (status, body["error"]) == (503, "too_many_connections")
    for s in held:
        s.close()
    time.sleep(0.3)
    _still_serves(srv)
    assert _healthz(srv)["connections_refused"] >= 1


def test_a_record_nested_a_thousand_deep_is_a_400_not_a_retry(make_server):
    srv = make_server(acceptUnknownTypes=True)
    nested = '{"v": ' * 1000 + "0" + "}" * 1000
    body = '{"device": "pos-17", "type": "blob", "data": ' + nested + "}"
    # Before: 503 "log_unavailable, retry" every time, so the device retried forever.
    for _ in range(2):
        r = requests.post(
            f"{srv.url}/v1/records",
            data=body,
            timeout=10,
            headers={**auth("pos-17"), "Content-Type": "application/json"},
        )
        assert r.status_code == 400 and "nested" in r.json()["message"], r.text
    _still_serves(srv)


def test_a_record_id_still_deduplicates_when_an_idempotency_key_is_sent(make_server):
    srv = make_server()
    url = f"{srv.url}/v1/records"
    rec = sale(total=4242, msg_id="receipt-4242")
    first = requests.post(url, json=rec, headers=auth("pos-17"), timeout=10)
    # The same record resent by a client that now adds an Idempotency-Key (a new one).
    again = requests.post(
        url, json=rec, headers={**auth("pos-17"), "Idempotency-Key": "k-1"}, timeout=10
    )
    assert first.status_code == 202 and again.status_code == 202, again.text
    # Before: a second copy with a new sequence number.
    assert again.json()["results"][0]["seq"] == first.json()["results"][0]["seq"]
    # The key still protects the request: the same key with another body is refused.
    other = requests.post(
        url,
        json=sale(total=1, msg_id="receipt-1"),
        headers={**auth("pos-17"), "Idempotency-Key": "k-1"},
        timeout=10,
    )
    assert other.status_code == 422
