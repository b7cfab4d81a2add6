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
        ("arrive", "A"), ("arrive", "B"), ("depart", "A"), ("depart", "B"), ("arrive", "A")
    ]


def test_glancing_read_below_threshold_is_counted_not_arrived():
    p = PresenceTracker(depart_after_s=0.2, arrive_after_reads=2)
    assert p.observe("G", 0) == []
    assert p.tick(S) == []
    assert p.unconfirmed == 1
