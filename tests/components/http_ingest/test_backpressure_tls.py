"""A full log answers 429 (nothing silently dropped); TLS with a site certificate."""

from __future__ import annotations

import pytest
import requests
from ingest_server import Server, auth, sale

from components.core.log import Log
from edge_sim.broker.pki import LocalCA


@pytest.mark.slow
def test_full_log_answers_429_with_retry_after_and_keeps_every_acknowledged_record(make_server):
    srv = make_server(logBudgetBytes=1 << 20, acceptUnknownTypes=True, logFullRetryAfterSeconds=7)
    url = f"{srv.url}/v1/records"
    acked: list[str] = []
    refused = None
    for i in range(400):
        batch = [
            {"device": "pos-17", "type": "blob", "data": {"n": f"{i}/{j}", "pad": "x" * 4000}}
            for j in range(5)
        ]
        r = requests.post(url, json=batch, headers=auth("pos-17"), timeout=10)
        if r.status_code == 429:
            refused = r
            break
        assert r.status_code == 202, r.text
        acked.extend(b["data"]["n"] for b in batch)
    assert refused is not None, "a 1 MiB log never filled"
    assert refused.json()["error"] == "log_full" and refused.headers["Retry-After"] == "7"
    health = requests.get(f"{srv.url}/healthz", timeout=10)
    assert health.status_code == 503 and health.json()["log"]["refused_full_recently"] is True
    # Another device's batch of the same size is refused too: events never evict events.
    other = [{"device": "pos-18", "type": "blob", "data": {"pad": "y" * 4000}}] * 5
    assert requests.post(url, json=other, headers=auth("pos-18")).status_code == 429
    srv.stop()
    with Log.open(srv.log_path, device="gw-1", free_floor_bytes=0) as lg:
        held = [r.payload["data"]["n"] for r in lg.snapshot_records(["event"])]
        counters = lg.stats()["counters"]
        assert not lg.evictions()
    assert held == acked  # all acknowledged, in order, nothing else
    assert counters["rejected_full.event"] >= 6


@pytest.mark.slow
def test_tls_with_the_site_certificate(make_server, tmp_path):
    site = LocalCA(tmp_path / "pki").issue_server()  # the site certificate, from a site CA
    cert, key = site.cert, site.key
    srv = make_server(tlsCertPath=str(cert), tlsKeyPath=str(key))
    assert srv.url.startswith("https://")
    r = requests.post(
        f"{srv.url}/v1/records",
        json=sale(),
        headers=auth("pos-17"),
        verify=str(site.ca),
        timeout=10,
    )
    assert r.status_code == 202
    # Plain HTTP to the TLS port gets no answer that could leak anything.
    plain = srv.url.replace("https://", "http://")
    try:
        r = requests.post(f"{plain}/v1/records", json=sale(), headers=auth("pos-17"), timeout=10)
        assert r.status_code != 202
    except requests.ConnectionError:
        pass


@pytest.mark.slow
def test_unusable_tls_files_stop_the_component_at_start(tmp_path):
    srv = Server(
        tmp_path / "log.sqlite",
        tlsCertPath=str(tmp_path / "missing.crt"),
        tlsKeyPath=str(tmp_path / "missing.key"),
    )
    try:
        srv.start()
    except AssertionError:
        pass
    assert srv.proc is not None and srv.proc.wait(timeout=15) == 2
