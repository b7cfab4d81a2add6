"""The on-disk stream store: torn tails after a power cut, retention, numbering."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.core.clock import ManualClock
from edge_sim.stream_manager.definition import Persistence, StrategyOnFull, StreamDefinition
from edge_sim.stream_manager.store import MessageStream


def definition(**kw) -> StreamDefinition:
    kw.setdefault("strategy_on_full", StrategyOnFull.OVERWRITE_OLDEST_DATA)
    return StreamDefinition(name="s", **kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=20),
    cut=st.floats(0, 1),
    garbage=st.binary(max_size=40),
)
def test_torn_tail_keeps_an_intact_prefix(tmp_path_factory, payloads, cut, garbage):
    directory = Path(tmp_path_factory.mktemp("torn"))
    stream = MessageStream(definition(segment_size_bytes=1024), directory, ManualClock())
    for p in payloads:
        stream.append(p)
    stream.close()
    # Power cut: the last segment loses its tail, maybe with junk where the tail was.
    last = sorted((directory / "segments").glob("*.seg"))[-1]
    data = last.read_bytes()
    last.write_bytes(data[: int(len(data) * cut)] + garbage)

    again = MessageStream(definition(segment_size_bytes=1024), directory, ManualClock())
    kept = again.read(0, len(payloads) + 1)
    assert [m.payload for m in kept] == payloads[: len(kept)]
    assert [m.seq for m in kept] == list(range(len(kept)))
    assert again.append(b"next") == len(kept)
    assert again.read(len(kept), 1)[0].payload == b"next"
    again.close()


def test_sequence_numbers_skip_past_what_was_exported(tmp_path):
    stream = MessageStream(definition(), tmp_path, ManualClock())
    for i in range(5):
        stream.append(bytes([i]))
    stream.close()
    seg = next((tmp_path / "segments").glob("*.seg"))
    os.truncate(seg, 0)  # everything lost, but 0..4 had been exported
    again = MessageStream(definition(), tmp_path, ManualClock())
    again.skip_to(5)
    assert again.append(b"new") == 5
    again.close()
    assert MessageStream(definition(), tmp_path, ManualClock()).next_seq == 6


def test_memory_stream_never_touches_the_disk(tmp_path):
    stream = MessageStream(
        definition(persistence=Persistence.MEMORY), tmp_path / "m", ManualClock()
    )
    stream.append(b"x")
    assert not (tmp_path / "m").exists()
    assert stream.read(0, 1)[0].payload == b"x"


def test_eviction_deletes_whole_segments_only_when_unused(tmp_path):
    stream = MessageStream(
        definition(max_size_bytes=4096, segment_size_bytes=1024), tmp_path, ManualClock()
    )
    for i in range(200):
        stream.append(bytes([i % 256]) * 100)
    files = sorted((tmp_path / "segments").glob("*.seg"))
    on_disk = sum(f.stat().st_size for f in files)
    assert stream.total_bytes <= 4096
    assert on_disk <= 4096 + 1024  # at most one partly evicted segment
    first_kept = int(files[0].stem)
    assert first_kept <= stream.oldest_seq
