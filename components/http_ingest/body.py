"""A request body as bytes: within a size limit, inflated when it says gzip or deflate.

Pure: chunks in, bytes out, no sockets. The limit counts the inflated bytes, and inflation stops
one byte past it, so a small compressed bomb never grows in memory.
"""

from __future__ import annotations

import zlib

IDENTITY = "identity"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CODINGS = {IDENTITY, "gzip", "x-gzip", "deflate"}


class BodyTooLarge(Exception):
    """Over the limit (413)."""


class BadEncoding(ValueError):
    """Not the encoding the request claims, or cut short (400)."""


class UnsupportedEncoding(ValueError):
    """A Content-Encoding this server does not inflate (415, RFC 7694)."""


def content_coding(header: str | None) -> str:
    """The one coding named by a Content-Encoding header (lower case)."""
    coding = (header or IDENTITY).strip().lower()
    if coding not in _CODINGS:
        raise UnsupportedEncoding(
            f"Content-Encoding {coding[:40]!r}: send identity, gzip or deflate"
        )
    return coding


class BodyReader:
    """Collects a body chunk by chunk; `feed` raises BodyTooLarge or BadEncoding as soon as
    either is certain, `finish` returns the bytes."""

    def __init__(self, coding: str, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._coding = coding
        self._head = b""
        self._inflater: zlib._Decompress | None = None
        if coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(_GZIP_WBITS)

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._coding == "deflate" and self._inflater is None:
            self._head += chunk  # two bytes tell zlib from raw deflate
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            self._inflater = zlib.decompressobj(_deflate_wbits(chunk))
        if self._inflater is None:
            self._keep(chunk)
            return
        try:
            data = chunk
            while data:
                # At most one byte past the limit per call: enough to know it is too large.
                out = self._inflater.decompress(data, self._limit + 1 - self._size)
                self._keep(out)
                data = self._inflater.unconsumed_tail
                if self._inflater.eof and self._inflater.unused_data:
                    raise BadEncoding(f"data after the end of the {self._coding} stream")
        except zlib.error as exc:
            raise BadEncoding(f"the body is not valid {self._coding}: {exc}") from None

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise BodyTooLarge(f"body over {self._limit} bytes")
        if data:
            self._parts.append(data)

    def finish(self) -> bytes:
        if self._head:  # a one-byte deflate body
            raise BadEncoding("the deflate stream is cut short")
        if self._inflater is not None and not self._inflater.eof:
            raise BadEncoding(f"the {self._coding} stream is cut short")
        if self._coding == "deflate" and self._inflater is None:
            raise BadEncoding("an empty body cannot be deflate")
        return b"".join(self._parts)


def _deflate_wbits(first: bytes) -> int:
    """HTTP's "deflate" is the zlib format (RFC 9110), but some clients send raw deflate:
    a zlib header (CM 8, header checksum a multiple of 31) decides which."""
    if len(first) >= 2 and first[0] & 0x0F == 8 and ((first[0] << 8) | first[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS
