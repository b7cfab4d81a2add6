"""Tokens, rate limits and the configuration declaration."""

from __future__ import annotations

import hashlib

import pytest

from components.core.clock import ManualClock
from components.core.config import ConfigError
from components.http_ingest.auth import AuthError, TokenTable, token_digest
from components.http_ingest.config import SPEC
from components.http_ingest.ratelimit import RateLimiter


def test_token_digest_is_plain_sha256_hex():
    assert token_digest("abc") == hashlib.sha256(b"abc").hexdigest()


def test_tokens_identify_their_device_only():
    table = TokenTable({"pos-17": token_digest("t17"), "pos-18": token_digest("t18")})
    assert table.authenticate("Bearer t17") == "pos-17"
    assert table.authenticate("bearer   t18 ") == "pos-18"
    for header, code in [
        (None, "invalid_request"),
        ("", "invalid_request"),
        ("t17", "invalid_request"),
        ("Basic t17", "invalid_request"),
        ("Bearer t19", "invalid_token"),
        ("Bearer " + token_digest("t17"), "invalid_token"),  # the digest is not the token
    ]:
        with pytest.raises(AuthError) as err:
            table.authenticate(header)
        assert err.value.code == code


def test_one_token_for_two_devices_is_a_config_error():
    same = token_digest("shared")
    with pytest.raises(ConfigError, match="tokenSha256ByDevice"):
        SPEC.parse({"tokenSha256ByDevice": {"pos-17": same, "pos-18": same.upper()}})


def test_bucket_refills_at_the_rate_and_caps_at_the_burst():
    clock = ManualClock()
    rl = RateLimiter(clock, rate_per_s=2.0, burst=4)
    assert rl.take("a", 4) == 0.0
    wait = rl.take("a", 1)
    assert wait == pytest.approx(0.5)
    clock.advance(0.5)
    assert rl.take("a", 1) == 0.0
    clock.advance(3600)  # a long pause refills only up to the burst
    assert rl.take("a", 4) == 0.0 and rl.take("a", 1) > 0
    assert rl.take("b", 4) == 0.0  # buckets are per device


def test_a_batch_larger_than_the_burst_passes_when_full_and_is_paid_back():
    clock = ManualClock()
    rl = RateLimiter(clock, rate_per_s=10.0, burst=5)
    assert rl.take("a", 25) == 0.0
    assert rl.take("a", 1) == pytest.approx(2.1)  # 20 owed plus 1 needed, at 10/s
    assert RateLimiter.retry_after_s(0.01) == 1 and RateLimiter.retry_after_s(2.1) == 3


def test_defaults_parse_and_bad_values_are_named():
    cfg = SPEC.parse({})
    assert cfg.port == 8081 and cfg.tokenSha256ByDevice == {}
    with pytest.raises(ConfigError) as err:
        SPEC.parse(
            {
                "tokenSha256ByDevice": {"pos-17": "not-hex"},
                "recordSchemas": {"pos_sale": {"type": "no-such-type"}},
                "port": 70000,
                "maxBodyBytes": "big",
                "certFile": "x",
            }
        )
    assert set(err.value.errors) == {
        "tokenSha256ByDevice",
        "recordSchemas",
        "port",
        "maxBodyBytes",
        "certFile",
    }
    with pytest.raises(ConfigError):
        SPEC.parse({"tokenSha256ByDevice": {"bad device": "0" * 64}})
    with pytest.raises(ConfigError):
        SPEC.parse({"recordSchemas": {"Bad-Type": {}}})
    upper = SPEC.parse({"tokenSha256ByDevice": {"pos-17": "A" * 64}})
    assert upper.tokenSha256ByDevice == {"pos-17": "a" * 64}
