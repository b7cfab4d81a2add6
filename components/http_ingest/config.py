"""The configuration of http_ingest: every key, its type, default and bounds, declared once.

The recipe's DefaultConfiguration is checked against `SPEC`; a configuration update that fails
any check is rejected whole and the one in force stays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.core.config import Spec, check_bind_address, check_pem_file, setting
from components.core.envelope import EnvelopeError, validate_device
from components.core.log.config import LogSettings
from components.http_ingest.schemas import check_schemas

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _check_tokens(value: Mapping[str, Any]) -> dict[str, str]:
    """device -> lower-case hex SHA-256 of its bearer token (the token itself never stored)."""
    out: dict[str, str] = {}
    for device, digest in value.items():
        try:
            validate_device(device)
        except EnvelopeError as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest.lower()):
            raise ValueError(f"{device}: expected 64 hex digits (SHA-256 of the token)")
        out[device] = digest.lower()
    if len(set(out.values())) != len(out):  # a token must name one device
        raise ValueError("two devices have the same token digest")
    return out


@dataclass(frozen=True)
class HttpIngestSettings(LogSettings):
    """The http_ingest component's settings: one field per configuration key."""

    bindAddress: str = setting(
        "0.0.0.0",
        "address to listen on: the site LAN by default (the "
        "terminals post from it); 127.0.0.1: this device only",
        check=check_bind_address,
    )
    port: int = setting(8081, "TCP port of the ingest API (0: any free port)", min=0, max=65535)
    tlsCertPath: str = setting(
        "",
        "PEM certificate chain (the site certificate); empty: HTTP",
        check=check_pem_file("CERTIFICATE"),
    )
    tlsKeyPath: str = setting(
        "", "PEM private key of that certificate", check=check_pem_file("PRIVATE KEY")
    )
    tokenSha256ByDevice: Mapping[str, str] = setting(
        {},
        "device name -> hex SHA-256 of its bearer token; empty: every post is 401",
        check=_check_tokens,
        raw=dict,
    )
    maxBodyBytes: int = setting(
        1 << 20, "largest request body; bigger is answered 413", min=256, max=64 << 20
    )
    bodyTimeoutSeconds: float = setting(
        30.0, "longest wait for a body to arrive (else 408)", min=0.1, max=600.0
    )
    maxRecordsPerRequest: int = setting(
        500, "records in one batch; more is answered 400", min=1, max=10_000
    )
    maxRecordsPerSecondPerDevice: float = setting(
        50.0, "sustained records/s per device (429 past it)", min=0.01, max=1e6
    )
    burstRecordsPerDevice: int = setting(
        500, "records a device may send at once after a pause", min=1, max=1_000_000
    )
    recordSchemas: Mapping[str, Any] = setting(
        {},
        "record type -> JSON schema of its data (adds or replaces "
        "the built-in pos_sale, gate_passage, plc_counter)",
        check=check_schemas,
        raw=dict,
    )
    acceptUnknownTypes: bool = setting(False, "accept types without a schema (any JSON object)")
    idempotencyRetentionSeconds: float = setting(
        86_400.0, "how long a retry is recognised", min=60.0, max=30 * 86_400.0
    )
    maxIdempotencyKeys: int = setting(
        100_000, "keys kept at most (oldest forgotten first)", min=100, max=10_000_000
    )
    logFullRetryAfterSeconds: int = setting(
        30, "Retry-After sent when the log is full", min=1, max=3600
    )
    maxRequestLineBytes: int = setting(
        8192, "longest request target; longer is answered 414", min=256, max=65536
    )
    maxHeaderBytes: int = setting(
        16384, "request line and headers together; more is answered 431", min=1024, max=1 << 20
    )
    maxHeaders: int = setting(
        64, "header fields in one request; more is answered 431", min=8, max=1024
    )
    headerTimeoutSeconds: float = setting(
        10.0,
        "longest wait for a request head, also for the "
        "first one on a new connection (else 408, closed)",
        min=0.1,
        max=300.0,
    )
    idleTimeoutSeconds: float = setting(
        15.0, "how long a connection may sit between requests", min=0.1, max=3600.0
    )
    maxConnections: int = setting(
        256, "connections open at once; more are answered 503 and closed", min=1, max=65536
    )
    maxCommitRecords: int = setting(
        2_000, "records group-committed in one transaction at most", min=1, max=100_000
    )


SPEC = Spec(HttpIngestSettings)
