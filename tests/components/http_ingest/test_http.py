"""The API over real HTTP (requests, a client independent of the server's framework)."""

from __future__ import annotations

import gzip
import json
import socket
import uuid

import pytest
import requests
from ingest_server import TOKENS, auth, digest, sale
from waiting import wait_for

from components.core.log import Log

JSON = {"Content-Type": "application/json"}


def post(server, body, device="pos-17", headers=None, **kw):
    return requests.post(
        f"{server.url}/v1/records",
        json=body,
        headers={**auth(device), **(headers or {})},
        timeout=10,
        **kw,
    )


def events(server):
    with Log.open(server.log_path, device="gw-1", free_floor_bytes=0) as lg:
        return list(lg.snapshot_records(["event"]))


def by_identity(server):
    return {r.identity: r for r in events(server)}


@pytest.mark.slow
def test_one_record_is_committed_before_202_with_its_identity(server):
    rid = uuid.uuid4().hex
    r = post(server, sale(total=777, msg_id=rid))
    assert r.status_code == 202, r.text
    res = r.json()["results"][0]
    assert res["status"] == "accepted" and res["device"] == "pos-17"
    assert res["stream"] == "pos_sale/http@pos-17"
    stored = by_identity(server)[("pos-17", res["stream"], res["seq"])]
    assert stored.cls == "event"
    assert stored.payload == {"id": rid, "data": sale(total=777)["data"]}


@pytest.mark.slow
def test_the_three_batch_forms(server):
    gate = {
        "device": "pos-17",
        "type": "gate_passage",
        "data": {"gate_id": "g1", "direction": "in", "credential": "badge-9"},
    }
    plc = {"device": "pos-17", "type": "plc_counter", "data": {"counter": "parts", "value": 12}}
    for body in ([sale(), gate, plc], {"records": [sale(), gate, plc]}):
        r = post(server, body)
        assert r.status_code == 202, r.text
        streams = [x["stream"] for x in r.json()["results"]]
        assert streams == [
            "pos_sale/http@pos-17",
            "gate_passage/http@pos-17",
            "plc_counter/http@pos-17",
        ]
    seqs = [x["seq"] for x in r.json()["results"]]
    have = by_identity(server)
    for x in r.json()["results"]:
        assert ("pos-17", x["stream"], x["seq"]) in have
    assert all(s >= 2 for s in seqs)  # the second batch follows the first on every stream


@pytest.mark.slow
def test_invalid_records_are_named_and_the_valid_ones_still_committed(server):
    bad_total = sale(total=-5)
    unknown = {"device": "pos-17", "type": "espresso_shot", "data": {}}
    no_data = {"device": "pos-17", "type": "pos_sale"}
    r = post(server, [sale(total=1), bad_total, unknown, no_data, "text"])
    assert r.status_code == 400
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 4)
    res = body["results"]
    assert res[0]["status"] == "accepted"
    assert ("pos-17", res[0]["stream"], res[0]["seq"]) in by_identity(server)
    assert any("total_cents" in e and "minimum" in e for e in res[1]["errors"])
    assert any("unit_price_cents" in e for e in res[1]["errors"])
    assert "unknown record type" in res[2]["errors"][0]
    assert any("'data'" in e for e in res[3]["errors"])
    assert res[4]["errors"] == ["record is not an object"]


@pytest.mark.slow
def test_whole_body_errors(server):
    url = f"{server.url}/v1/records"
    h = {**auth("pos-17"), **JSON}
    for data, want in [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[]", "empty"),
        (b"42", "neither"),
        (b'{"records": 3}', "not an array"),
        (b"\xff\xfe", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'{"device": "pos-17", "type": "plc_counter", "data": {"value": NaN}}', "NaN"),
        (b'{"device": "pos-17", "type": "plc_counter", "data": {"value": 1e999}}', "range"),
    ]:
        r = requests.post(url, data=data, headers=h, timeout=10)
        assert r.status_code == 400, (data[:20], r.text)
        assert want in r.json()["message"], r.text


@pytest.mark.slow
def test_too_many_records_in_one_request(make_server):
    srv = make_server(maxRecordsPerRequest=3)
    assert post(srv, [sale()] * 3).status_code == 202
    r = post(srv, [sale()] * 4)
    assert r.status_code == 400 and "at most 3" in r.json()["message"]


@pytest.mark.slow
def test_wrong_content_type_is_415(server):
    url = f"{server.url}/v1/records"
    for ctype in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ):
        r = requests.post(url, data=b"{}", headers={**auth("pos-17"), "Content-Type": ctype})
        assert r.status_code == 415, ctype
    r = requests.post(url, data=b"{}", headers=auth("pos-17"))  # none at all
    assert r.status_code == 415


@pytest.mark.slow
def test_oversized_body_is_413_with_or_without_content_length(make_server):
    srv = make_server(maxBodyBytes=4096)
    big = [sale(total=i) for i in range(40)]
    assert post(srv, big).status_code == 413

    def chunks():
        for _ in range(20):
            yield b" " * 1024

    r = requests.post(
        f"{srv.url}/v1/records", data=chunks(), headers={**auth("pos-17"), **JSON}, timeout=10
    )
    assert r.status_code == 413
    assert post(srv, sale()).status_code == 202


@pytest.mark.slow
def test_auth_failures(server):
    url = f"{server.url}/v1/records"
    before = len(events(server))
    cases = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {TOKENS['pos-17']}"},
        "wrong": {"Authorization": "Bearer not-a-token"},
        "empty": {"Authorization": "Bearer "},
    }
    for name, headers in cases.items():
        r = requests.post(url, json=sale(), headers=headers, timeout=10)
        assert r.status_code == 401, name
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # pos-18's valid token cannot post records of pos-17.
    r = requests.post(url, json=sale("pos-17"), headers=auth("pos-18"), timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "wrong_device"
    assert len(events(server)) == before
    # ...but it can post its own.
    assert requests.post(url, json=sale("pos-18"), headers=auth("pos-18")).status_code == 202


@pytest.mark.slow
def test_idempotency_key_retry_returns_the_same_identities(server):
    key = uuid.uuid4().hex
    body = [sale(total=10), sale(total=11)]
    first = post(server, body, headers={"Idempotency-Key": key})
    assert first.status_code == 202
    before = len(events(server))
    again = post(server, body, headers={"Idempotency-Key": key})
    assert again.status_code == 202
    assert again.json()["replayed"] is True

    def strip(resp):
        return [{k: v for k, v in x.items() if k != "replayed"} for x in resp.json()["results"]]

    assert strip(again) == strip(first)
    assert len(events(server)) == before
    # The same key with another body is a client bug, not a retry.
    r = post(server, [sale(total=12)], headers={"Idempotency-Key": key})
    assert r.status_code == 422
    # Keys are per device: pos-18 may use the same key for its own records.
    r = post(server, [sale("pos-18")], device="pos-18", headers={"Idempotency-Key": key})
    assert r.status_code == 202 and r.json()["replayed"] is False


@pytest.mark.slow
def test_client_message_ids_make_each_record_idempotent(server):
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    first = post(server, [sale(total=1, msg_id=a), sale(total=2, msg_id=b), sale(total=3)])
    assert first.status_code == 202
    n = len(events(server))
    # A retry of the batch plus one new record: only the new ones are written.
    c = uuid.uuid4().hex
    again = post(server, [sale(total=1, msg_id=a), sale(total=4, msg_id=c)])
    assert again.status_code == 202
    res = again.json()["results"]
    assert res[0]["replayed"] and res[0]["seq"] == first.json()["results"][0]["seq"]
    assert not res[1]["replayed"]
    assert len(events(server)) == n + 1
    # The same id for other content is refused for that record alone.
    r = post(server, [sale(total=99, msg_id=b)])
    assert r.status_code == 400 and "already used" in r.json()["results"][0]["errors"][0]


@pytest.mark.slow
def test_bad_idempotency_key_header(server):
    r = post(server, sale(), headers={"Idempotency-Key": "x" * 201})
    assert r.status_code == 400 and r.json()["error"] == "bad_idempotency_key"


@pytest.mark.slow
def test_rate_limit_answers_429_with_retry_after(make_server):
    srv = make_server(maxRecordsPerSecondPerDevice=0.5, burstRecordsPerDevice=3)
    assert post(srv, [sale(), sale(), sale()]).status_code == 202
    r = post(srv, sale())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert post(srv, sale("pos-18"), device="pos-18").status_code == 202  # per device


@pytest.mark.slow
def test_healthz_reports_log_backlog_clock_and_no_secrets(server):
    post(server, sale())
    r = requests.get(f"{server.url}/healthz", timeout=10)
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["log"]["ok"] is True
    assert h["log"]["event_records"] >= 1
    assert isinstance(h["clock_synced"], bool) and "backlog_records" in h
    text = r.text
    assert not any(token in text for token in TOKENS.values())
    assert not any(digest(t) in text for t in TOKENS.values())
    assert str(server.log_path) not in text


@pytest.mark.slow
def test_unknown_types_can_be_allowed_and_schemas_configured(make_server):
    schema = {
        "type": "object",
        "required": ["celsius"],
        "properties": {"celsius": {"type": "number", "maximum": 100}},
    }
    srv = make_server(recordSchemas={"kiln_temp": schema}, acceptUnknownTypes=True)
    ok = {"device": "gate-1", "type": "kiln_temp", "data": {"celsius": 80}}
    hot = {"device": "gate-1", "type": "kiln_temp", "data": {"celsius": 180}}
    free = {"device": "gate-1", "type": "anything_else", "data": {"x": [1, 2]}}
    r = post(srv, [ok, hot, free], device="gate-1")
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected", "accepted"]


@pytest.mark.slow
def test_sigterm_stops_cleanly(make_server):
    srv = make_server()
    assert post(srv, sale()).status_code == 202
    assert srv.stop() == 0


@pytest.mark.slow
def test_gzip_bodies_are_inflated_and_the_limit_counts_inflated_bytes(make_server):
    srv = make_server(maxBodyBytes=4096)
    url = f"{srv.url}/v1/records"
    h = {**auth("pos-17"), **JSON, "Content-Encoding": "gzip"}
    body = gzip.compress(json.dumps([sale(total=5)]).encode())
    r = requests.post(url, data=body, headers=h, timeout=10)
    assert r.status_code == 202, r.text
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")  # 10 MB of spaces, ~10 kB packed
    r = requests.post(url, data=bomb, headers=h, timeout=10)
    assert r.status_code == 413
    r = requests.post(url, data=b"[]", headers=h, timeout=10)  # says gzip, is not
    assert r.status_code == 400 and r.json()["error"] == "bad_encoding", r.text
    r = requests.post(url, data=body, headers={**h, "Content-Encoding": "br"}, timeout=10)
    assert r.status_code == 415 and r.json()["error"] == "unsupported_encoding", r.text
    assert events(srv) and len(events(srv)) == 1  # only the good post was committed


@pytest.mark.slow
def test_healthz_backlog_counts_what_the_uplink_has_not_acknowledged(make_server, tmp_path):
    log_path = tmp_path / "shared.sqlite"
    with Log.open(log_path, device="gw-1", free_floor_bytes=0) as lg:
        lg.register_consumer("uplink-iot", classes=["event", "alert"])
    srv = make_server(log_path=log_path)
    assert post(srv, [sale(total=1), sale(total=2), sale(total=3)]).status_code == 202
    with Log.open(log_path, device="gw-1", free_floor_bytes=0) as lg:
        lg.ack("uplink-iot", lg.read("uplink-iot", limit=1))
    h = requests.get(f"{srv.url}/healthz", timeout=10).json()
    assert h["backlog_records"] == {"uplink-iot": 2}
    assert h["log"]["event_records"] == 2  # the acknowledged one was retired


@pytest.mark.slow
def test_a_stalled_body_is_answered_408_and_frees_the_handler(make_server):
    srv = make_server(bodyTimeoutSeconds=0.5)
    head = (
        "POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKENS['pos-17']}\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(head + b'{"device":')  # and then nothing more
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")
    assert post(srv, sale()).status_code == 202


@pytest.mark.slow
def test_a_client_leaving_mid_body_is_counted_and_the_server_carries_on(server):
    head = (
        "POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKENS['pos-17']}\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + b'{"device":')

    def clients_gone() -> int:
        return (
            requests.get(f"{server.url}/healthz", timeout=10)
            .json()["ingest"]
            .get("clients_gone", 0)
        )

    assert wait_for(clients_gone, what="the departed client counted") == 1
    assert post(server, sale()).status_code == 202


@pytest.mark.slow
def test_unknown_routes_are_404_and_wrong_methods_405_with_allow(server):
    r = requests.get(f"{server.url}/v1/nothing", timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = requests.get(f"{server.url}/v1/records", headers=auth("pos-17"), timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = requests.post(f"{server.url}/healthz", timeout=10)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    r = requests.head(f"{server.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) > 0


@pytest.mark.slow
def test_a_body_arriving_after_its_headers_and_pipelined_posts_are_committed(server):
    """The body is taken at once when it came with the headers, and awaited when it did not;
    both paths end in the same commit."""
    before = len(events(server))
    body = json.dumps(sale(total=4242)).encode()
    head = (
        "POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKENS['pos-17']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head + body[:7])
        s.sendall(body[7:])  # a second segment: the handler may already be waiting for it
        answers = _read_answers(s, 1)
        s.sendall((head + body) * 2)  # two requests in one segment, on the same connection
        answers += _read_answers(s, 2)
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 202"), answer[:80]
    assert len(events(server)) == before + 3


def _read_answers(s: socket.socket, n: int) -> list[bytes]:
    """`n` whole HTTP/1.1 answers (each with a Content-Length) read off a keep-alive socket."""
    data, out = b"", []
    while len(out) < n:
        if b"\r\n\r\n" in data:
            head, _, rest = data.partition(b"\r\n\r\n")
            fields = (line.partition(b":") for line in head.split(b"\r\n")[1:])
            length = next(int(v) for k, _, v in fields if k.strip().lower() == b"content-length")
            if len(rest) >= length:
                out.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
                continue
        chunk = s.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    assert not data, "no more answers than requests"
    return out


@pytest.mark.slow
def test_expect_100_continue_is_answered_after_the_header_checks(server):
    body = json.dumps(sale(total=777)).encode()

    def head(token: str, expect: str = "100-continue") -> bytes:
        return (
            "POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n"
            f"Expect: {expect}\r\n\r\n"
        ).encode()

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head(TOKENS["pos-17"]))  # and wait, as curl does, before sending the body
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += s.recv(4096)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert _read_answers(s, 1)[0].startswith(b"HTTP/1.1 202")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head("not-a-token"))  # refused from the headers alone: no 100
        assert _read_answers(s, 1)[0].startswith(b"HTTP/1.1 401")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head(TOKENS["pos-17"], expect="something-else") + body)
        assert _read_answers(s, 1)[0].startswith(b"HTTP/1.1 417")
