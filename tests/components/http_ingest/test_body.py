"""Request bodies from bytes alone: limits, inflation, and every way a body can be wrong."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.http_ingest.body import (
    BadEncoding,
    BodyReader,
    BodyTooLarge,
    UnsupportedEncoding,
    content_coding,
)


def read(coding: str, data: bytes, limit: int, chunk: int = 7) -> bytes:
    reader = BodyReader(coding, limit)
    for i in range(0, len(data), chunk):
        reader.feed(data[i : i + chunk])
    return reader.finish()


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000),
    chunk=st.integers(1, 4096),
    coding=st.sampled_from(["identity", "gzip", "x-gzip", "deflate", "raw-deflate"]),
)
def test_any_body_in_any_coding_and_any_chunking_comes_back_whole(data, chunk, coding):
    packed = {
        "identity": data,
        "gzip": gzip.compress(data),
        "x-gzip": gzip.compress(data),
        "deflate": zlib.compress(data),
        "raw-deflate": raw_deflate(data),
    }[coding]
    header = "deflate" if coding == "raw-deflate" else coding
    assert read(header, packed, limit=3000, chunk=chunk) == data


def test_the_limit_counts_inflated_bytes_and_a_bomb_stops_one_byte_past_it():
    bomb = gzip.compress(b" " * 10_000_000)  # ~10 kB packed
    reader = BodyReader("gzip", 1 << 20)
    with pytest.raises(BodyTooLarge):
        reader.feed(bomb)
    assert sum(len(p) for p in reader._parts) <= (1 << 20)  # never held more than the limit
    assert read("gzip", gzip.compress(b"x" * 1000), limit=1000) == b"x" * 1000
    with pytest.raises(BodyTooLarge):
        read("gzip", gzip.compress(b"x" * 1001), limit=1000)
    with pytest.raises(BodyTooLarge):
        read("identity", b"x" * 1001, limit=1000)


@pytest.mark.parametrize(
    "coding, data, reason",
    [
        ("gzip", b"[]", "not valid gzip"),
        ("gzip", gzip.compress(b"[1, 2]")[:-6], "cut short"),
        ("gzip", gzip.compress(b"[1]") + b"junk", "after the end"),
        ("gzip", b"", "cut short"),
        ("deflate", b"", "empty body"),
        ("deflate", zlib.compress(b"[1]")[:-3], "cut short"),
    ],
)
def test_a_body_not_in_its_claimed_coding_is_named(coding, data, reason):
    with pytest.raises(BadEncoding, match=reason):
        read(coding, data, limit=1000)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), coding=st.sampled_from(["gzip", "deflate", "identity"]))
def test_garbage_in_any_coding_raises_only_the_named_errors(data, coding):
    try:
        read(coding, data, limit=400)
    except (BadEncoding, BodyTooLarge):
        pass


def test_codings_accepted_and_refused():
    assert content_coding(None) == "identity"
    assert content_coding(" GZip ") == "gzip"
    for header in ("br", "compress", "gzip, gzip", "zstd"):
        with pytest.raises(UnsupportedEncoding):
            content_coding(header)
