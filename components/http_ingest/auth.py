"""Bearer tokens per device, kept only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


class AuthError(Exception):
    """The request is not authenticated; `.code` is the RFC 6750 error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def token_digest(token: str) -> str:
    """What the configuration stores for a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenTable:
    """device -> token digest. `authenticate` checks every entry, whatever matches, so the time
    taken does not depend on which device (if any) the token belongs to."""

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._entries = [(device, bytes.fromhex(d)) for device, d in digests.items()]

    def authenticate(self, authorization: str | None) -> str:
        """The device the `Authorization` header's bearer token belongs to."""
        if not authorization:
            raise AuthError("invalid_request", "no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("invalid_request", "Authorization is not 'Bearer <token>'")
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for device, digest in self._entries:
            if hmac.compare_digest(presented, digest) and found is None:
                found = device
        if found is None:
            raise AuthError("invalid_token", "the token is not valid")
        return found
