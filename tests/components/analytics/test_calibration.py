"""ScoreTail: the fraction of a stream's readings that scored at least as high, decayed."""

import json

import pytest

from components.analytics.calibration import ScoreTail


def test_tail_is_the_fraction_of_readings_in_the_bin_or_above():
    t = ScoreTail(floor=0.6, bins=4, decay=0.0)  # bins [0.6,0.7) [0.7,0.8) [0.8,0.9) [0.9,1]
    assert t.tail(0.95) == 0.0  # nothing seen: no evidence that it is common
    for s in [0.1] * 96 + [0.65, 0.75, 0.85, 1.0]:
        t.add(s)
    assert t.tail(0.5) == 1.0  # under the floor: every reading reached it
    assert t.tail(0.62) == pytest.approx(4 / 100)
    assert t.tail(0.79) == pytest.approx(3 / 100)
    assert t.tail(0.99) == pytest.approx(1 / 100)
    assert t.tail(1.0) == pytest.approx(1 / 100)


def test_decay_weighs_old_readings_by_their_age():
    d = 0.01
    t = ScoreTail(floor=0.5, bins=2, decay=d)
    t.add(0.9)
    for _ in range(199):
        t.add(0.0)
    # oracle: reading k of 200 weighs (1-d)^(200-1-k); the high one is the oldest
    weights = [(1 - d) ** (199 - k) for k in range(200)]
    assert t.tail(0.9) == pytest.approx(weights[0] / sum(weights), rel=1e-9)


def test_rescaling_keeps_the_answer_and_the_numbers_finite():
    t = ScoreTail(floor=0.5, bins=8, decay=0.2)  # the lazy weight overflows 1e100 fast
    for i in range(5000):
        t.add(0.95 if i % 10 == 0 else 0.0)
    assert t.weight < 1e100 and t.total < 1e100
    # oracle: reading k weighs 0.8^(4999-k)
    w = [0.8 ** (4999 - k) for k in range(5000)]
    assert t.tail(0.95) == pytest.approx(sum(w[::10]) / sum(w), rel=1e-9)


def test_state_round_trip_and_bounded_size():
    a = ScoreTail(floor=0.6, bins=16, decay=1e-3)
    for i in range(3000):
        a.add((i * 37 % 100) / 100)
    b = ScoreTail(floor=0.6, bins=16, decay=1e-3)
    b.restore(json.loads(json.dumps(a.state())))
    for s in (0.61, 0.7, 0.99):
        assert a.tail(s) == b.tail(s)
    assert len(a.counts) == 16


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ScoreTail(floor=1.0, bins=4, decay=0.0)
    with pytest.raises(ValueError):
        ScoreTail(floor=0.5, bins=0, decay=0.0)
