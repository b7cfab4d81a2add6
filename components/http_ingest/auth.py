"""Bearer tokens per device, kept only as SHA-256 digests."""

from __future__ import annotations

import hashlib
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
    """device -> token digest. A presented token is hashed and the digest looked up: the time
    taken depends on the digest, never on how much of a valid token was guessed (finding a
    token from its digest is a SHA-256 preimage), and not on how many devices there are."""

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._by_digest = {bytes.fromhex(d): device for device, d in digests.items()}

    def authenticate(self, authorization: str | None) -> str:
        """The device the `Authorization` header's bearer token belongs to."""
        if not authorization:
            raise AuthError("invalid_request", "no Authorization header")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("invalid_request", "Authorization is not 'Bearer <token>'")
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = self._by_digest.get(presented)
        if found is None:
            raise AuthError("invalid_token", "the token is not valid")
        return found
