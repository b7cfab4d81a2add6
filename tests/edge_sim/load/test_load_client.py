"""The load clients' batches: real uplink batches, gapless seqs, plausible values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from components.core import batch
from edge_sim.load_client import STREAM_NAMES, ReadingSynth, send_offset_s


def test_batches_decode_with_gapless_seqs_per_stream() -> None:
    synth = ReadingSynth("load-00007", seed=3)
    seen: dict[str, list[int]] = {}
    for k in range(1, 31):
        site, records = batch.decode(synth.batch(k, 1_700_000_000_000 + 1000 * k, "site-x"))
        assert site == "site-x"
        assert {r.device for r in records} == {"load-00007"}
        assert [r.stream for r in records] == list(STREAM_NAMES)
        for r in records:
            seen.setdefault(r.stream, []).append(r.seq)
            assert r.wall_ms == 1_700_000_000_000 + 1000 * k
    assert all(seqs == list(range(1, 31)) for seqs in seen.values())


def test_readings_stay_plausible_over_a_long_walk() -> None:
    synth = ReadingSynth("load-00001", seed=11)
    for k in range(1, 3601):
        records = synth.records(k, 0)
    env = records[0].payload
    assert 10 < env["temperature_c"] < 35
    assert 95_000 < env["pressure_pa"] < 107_000
    assert 0 <= env["humidity_pct"] <= 100


@given(st.integers(1, 5000), st.floats(0.1, 10))
def test_send_offsets_spread_devices_over_one_period(fleet: int, rate_hz: float) -> None:
    offsets = [send_offset_s(p, fleet, 1, rate_hz) for p in range(fleet)]
    assert offsets == sorted(offsets)
    assert 0 <= offsets[0] and offsets[-1] < 1 / rate_hz
    assert send_offset_s(0, fleet, 3, rate_hz) == 2 / rate_hz
