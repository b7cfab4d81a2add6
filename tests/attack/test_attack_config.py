"""Hostile or mistaken configuration, at start and from the shadow: values that end up in a
topic, a path or an address, TLS material, and schemas that would reach outside."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from components.console.config import SPEC as CONSOLE
from components.core.config import ConfigError, ConfigHolder
from components.http_ingest.config import SPEC as INGEST
from components.uplink.config import SPEC as UPLINK
from components.uplink.shadow import apply_desired

BAD_SITES = ["s1/x", "s1+", "#", "", "a" * 129, "site one", "s1\u00e9"]


@pytest.mark.parametrize("site", BAD_SITES)
def test_a_site_that_is_no_topic_level_is_refused_at_start(site):
    # Before: "s1/x" was accepted, and then every publish failed, alerts included.
    for spec in (UPLINK, CONSOLE):
        with pytest.raises(ConfigError) as exc:
            spec.parse({"siteId": site})
        assert "siteId" in exc.value.errors


def test_a_bad_site_from_the_shadow_is_rejected_and_the_old_one_stays():
    holder = ConfigHolder(UPLINK, {"siteId": "site-1"})
    shadow = {"state": {"desired": {"uplink": {"siteId": "s1/x"}}}}
    err = apply_desired(holder, shadow, "uplink")
    assert err is not None and "siteId" in err
    assert holder.current.siteId == "site-1" and holder.rejected == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bindAddress", "garbage"),
        ("bindAddress", "0.0.0.0; rm -rf /"),
        ("logPath", ""),
        ("logPath", "relative/log.sqlite"),
        ("logPath", "/"),
        ("tlsCertPath", "/nonexistent/cert.pem"),
        ("tlsKeyPath", "/nonexistent/key.pem"),
    ],
)
def test_addresses_paths_and_tls_files_are_checked_before_they_are_accepted(key, value):
    with pytest.raises(ConfigError) as exc:
        INGEST.parse({key: value})
    assert key in exc.value.errors


def test_a_tls_file_without_the_right_pem_block_is_refused(tmp_path):
    not_a_cert = tmp_path / "cert.pem"
    not_a_cert.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as exc:
        INGEST.parse({"tlsCertPath": str(not_a_cert)})
    assert "CERTIFICATE" in exc.value.errors["tlsCertPath"]
    assert INGEST.parse({"tlsKeyPath": str(not_a_cert)}).tlsKeyPath == str(not_a_cert)


def test_a_kinesis_stream_name_aws_would_refuse_is_refused():
    with pytest.raises(ConfigError):
        UPLINK.parse({"kinesisStreamName": "raw/../x"})


@pytest.fixture
def silent_endpoint():
    """A server that accepts connections and never answers (and counts them)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def run() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/schema.json", accepted
    stop.set()
    t.join()
    for c in accepted:
        c.close()
    sock.close()


@pytest.mark.parametrize("where", ["top", "nested", "in_id"])
def test_a_schema_reaching_outside_is_refused_without_any_fetch(silent_endpoint, where):
    url, accepted = silent_endpoint
    schema = {
        "top": {"$schema": "http://json-schema.org/draft-07/schema#", "$ref": url},
        "nested": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"total": {"allOf": [{"$ref": url}]}},
        },
        "in_id": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"x": {"$id": url, "$ref": "#/definitions/y"}},
        },
    }[where]
    started = time.monotonic()
    # Before: the gateway fetched the URL while validating; a silent endpoint hung start-up.
    with pytest.raises(ConfigError) as exc:
        INGEST.parse({"recordSchemas": {"sale": schema}})
    assert "only local references" in exc.value.errors["recordSchemas"]
    assert accepted == [] and time.monotonic() - started < 5


def test_local_references_still_work():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "definitions": {"cents": {"type": "integer", "minimum": 0}},
        "properties": {"total": {"$ref": "#/definitions/cents"}},
    }
    assert "sale" in INGEST.parse({"recordSchemas": {"sale": schema}}).recordSchemas
