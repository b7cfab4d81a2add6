"""A throwaway certificate authority for the local IoT Core (EC P-256, like AWS IoT's defaults).

The CA signs a server certificate for the broker (SAN localhost / 127.0.0.1) and one client
certificate per thing, whose Common Name is the thing name: the broker uses it as the MQTT
user name, so the ACL can confine each device to its own topics, as each device's IoT policy
does by naming its thing (cloud/cdk/iot_policy.py).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
CLOCK_SKEW = dt.timedelta(minutes=5)  # tolerate a simulated clock slightly behind


@dataclass(frozen=True)
class CertFiles:
    """Where one identity's PEM files are; `key` is private (mode 0600)."""

    cert: Path
    key: Path
    ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "floorline edge_sim"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # O_CREAT's mode is filtered by the umask


class LocalCA:
    """Creates the CA in `directory` and issues certificates into it."""

    def __init__(self, directory: Path, now: dt.datetime | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._now = now or dt.datetime.now(dt.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name("floorline edge_sim local CA")
        self._cert = (
            self._builder(subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self._subject = subject
        self.ca_path = self.directory / "ca.pem"
        _write(self.ca_path, self._cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _builder(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        issuer: x509.Name | None = None,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer or subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now - CLOCK_SKEW)
            .not_valid_after(self._now + VALIDITY)
        )

    def _issue(self, stem: str, common_name: str, server: bool) -> CertFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(_name(common_name), key.public_key(), issuer=self._subject)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        files = CertFiles(
            cert=self.directory / f"{stem}.cert.pem",
            key=self.directory / f"{stem}.key.pem",
            ca=self.ca_path,
        )
        _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(files.key, _key_pem(key), 0o600)
        return files

    def issue_server(self) -> CertFiles:
        return self._issue("server", "localhost", server=True)

    def issue_client(self, common_name: str) -> CertFiles:
        return self._issue(f"client-{common_name}", common_name, server=False)
