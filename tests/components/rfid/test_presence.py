from components.rfid.presence import PresenceTracker

S = 1_000_000_000


def test_repeated_frames_give_one_arrive_then_depart_after_debounce():
    p = PresenceTracker(depart_after_s=0.5)
    events = []
    for i in range(10):  # a frame every 100 ms for 1 s
        events += p.observe("AA", i * S // 10)
    assert [e.kind for e in events] == ["arrive"]
    assert p.tick(int(1.3 * S)) == []  # silent 0.4 s: still there
    [dep] = p.tick(int(1.5 * S))
    assert dep.kind == "depart" and dep.reads == 10 and abs(dep.dwell_s - 0.9) < 1e-9
    assert p.present == frozenset()


def test_gap_shorter_than_debounce_is_one_presence():
    p = PresenceTracker(depart_after_s=1.0)
    kinds = [e.kind for t in (0, 0.4, 1.3, 2.2) for e in p.observe("T", int(t * S))]
    assert kinds == ["arrive"]


def test_two_tags_independent_and_rearrive():
    p = PresenceTracker(depart_after_s=0.2)
    ev = p.observe("A", 0) + p.observe("B", 0) + p.observe("A", int(0.5 * S))
    assert [(e.kind, e.tag_id) for e in ev] == [
        ("arrive", "A"),
        ("arrive", "B"),
        ("depart", "A"),
        ("depart", "B"),
        ("arrive", "A"),
    ]


def test_glancing_read_below_threshold_is_counted_not_arrived():
    p = PresenceTracker(depart_after_s=0.2, arrive_after_reads=2)
    assert p.observe("G", 0) == []
    assert p.tick(S) == []
    assert p.unconfirmed == 1


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.lists(st.integers(1, 3000), min_size=1, max_size=60), st.integers(50, 1000))
def test_presences_match_gaps(gaps_ms, debounce_ms):
    """One arrive per run of frames whose gaps stay within the debounce; each closes with a
    depart once the tag has been silent long enough; kinds strictly alternate."""
    p = PresenceTracker(depart_after_s=debounce_ms / 1000)
    t, events = 0, []
    for gap in gaps_ms:
        t += gap * 1_000_000
        events += p.observe("T", t)
    events += p.tick(t + (debounce_ms + 1) * 1_000_000)
    kinds = [e.kind for e in events]
    assert kinds == ["arrive", "depart"] * (len(kinds) // 2)
    expected = 1 + sum(1 for g in gaps_ms[1:] if g > debounce_ms)
    assert kinds.count("arrive") == expected
    assert sum(e.reads for e in events if e.kind == "depart") == len(gaps_ms)


def test_next_departure_is_the_first_instant_tick_departs_a_tag():
    p = PresenceTracker(depart_after_s=0.5)
    assert p.next_departure_ns() is None
    p.observe("A", 0)
    p.observe("B", S // 10)
    due = p.next_departure_ns()
    assert due is not None
    assert p.tick(due - 1) == []
    assert [e.tag_id for e in p.tick(due)] == ["A"]
    assert p.next_departure_ns() == due + S // 10
