"""A server's TLS context from a certificate chain and its key (PEM files), for the LAN
servers on the device: TLS 1.2 at least; both files or neither."""

from __future__ import annotations

import ssl


class TlsConfigError(ValueError):
    """Only one of the certificate and the key is configured."""


def server_context(cert_path: str, key_path: str) -> ssl.SSLContext | None:
    """None when neither file is configured (plain HTTP). Raises TlsConfigError when only one
    is, OSError / ssl.SSLError when the files cannot be used."""
    if not cert_path and not key_path:
        return None
    if not (cert_path and key_path):
        raise TlsConfigError("a certificate and its key go together: set both or neither")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx
