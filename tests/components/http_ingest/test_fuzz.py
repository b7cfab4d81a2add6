"""Fuzzed bodies, headers and raw bytes against the running server: never a 500, never a crash."""

from __future__ import annotations

import json
import re
import socket

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_server import TOKENS

ALLOWED = {202, 400, 401, 403, 408, 413, 415, 422, 429}
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=15,
)
record_like = st.fixed_dictionaries(
    {},
    optional={
        "device": st.sampled_from(["pos-17", "pos-18", "", "x y", "pos-17\n"])
        | st.text(max_size=5),
        "type": st.sampled_from(["pos_sale", "gate_passage", "plc_counter", "Nope", "pos_sale\n"])
        | st.text(max_size=10),
        "id": st.text(max_size=10) | st.integers(),
        "data": json_values,
        "records": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: json.dumps(v).encode()),
    record_like.map(lambda v: json.dumps(v).encode()),
    st.lists(record_like, max_size=5).map(lambda v: json.dumps(v).encode()),
)
# Any header bytes but the line break that would end the header.
header_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
header_text = header_bytes.map(lambda b: b.decode("latin-1"))
headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from([f"Bearer {TOKENS['pos-17']}", "Bearer x", ""])
        | header_text,
        "Content-Type": st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", "x/y+json"]
        )
        | header_text,
        "Idempotency-Key": header_text,
        "Content-Encoding": st.sampled_from(["gzip", "br", "identity"]),
        "Expect": st.just("100-continue"),
    },
)


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send bytes as they are (no client library tidies them up) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


@FUZZ
@given(
    body=bodies,
    hdrs=headers,
    extra=st.lists(st.tuples(header_bytes, header_bytes), max_size=3),
)
@pytest.mark.slow
def test_fuzzed_headers_and_bodies_get_a_4xx_or_202_never_a_500(server, body, hdrs, extra):
    lines = [b"POST /v1/records HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [k.encode() + b": " + v.encode("latin-1") for k, v in hdrs.items()]
    lines += [k + b": " + v for k, v in extra]
    lines.append(b"Content-Length: %d" % len(body))
    answer = raw_exchange(server.port, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    statuses = [int(m) for m in re.findall(rb"^HTTP/1\.1 (\d{3}) ", answer, re.M)]
    if statuses and statuses[0] == 100:  # Expect: 100-continue, then the real answer
        statuses = statuses[1:]
    # A request the parser refuses may be answered 400 or just closed.
    assert all(s in ALLOWED for s in statuses[:1]), answer[:300]
    assert server.alive()


@FUZZ
@given(body=bodies)
@pytest.mark.slow
def test_fuzzed_bodies_with_a_valid_token(server, body):
    hdrs = {"Authorization": f"Bearer {TOKENS['pos-17']}", "Content-Type": "application/json"}
    r = requests.post(f"{server.url}/v1/records", data=body, headers=hdrs, timeout=10)
    assert r.status_code in ALLOWED, (r.status_code, r.text[:300])
    if r.status_code in (202, 400) and "results" in r.json():
        assert len(r.json()["results"]) >= 1


@settings(max_examples=80, deadline=None)
@given(raw=st.binary(min_size=1, max_size=300))
@pytest.mark.slow
def test_raw_garbage_on_the_socket_never_kills_the_server(server, raw):
    for payload in (raw, b"POST /v1/records HTTP/1.1\r\n" + raw + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            try:
                answer = s.recv(200)
            except (ConnectionResetError, TimeoutError):
                answer = b""
        if answer.startswith(b"HTTP/1."):
            assert not answer[9:12].startswith(b"5"), answer
    assert server.alive()
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
