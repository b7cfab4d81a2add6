"""NAB scoring on hand-computed cases (values from the published formulas, worked by hand)."""

import math
from datetime import datetime, timedelta

import pytest

from bench import nab_score as ns

T0 = datetime(2020, 1, 1)
TS = [T0 + timedelta(minutes=5 * i) for i in range(10)]
STANDARD, LOW_FP, LOW_FN = ns.PROFILES


def sig(y):  # 2 / (1 + e^(5y)) - 1
    return 2 / (1 + math.exp(5 * y)) - 1


def points(scores):
    # 10 rows -> probation floor(1.5) = 1 row; one window over rows 4..5 (width 2).
    return ns.file_points("f.csv", TS, scores, [(TS[4], TS[5])])


def test_probation_is_15_percent_capped_at_750_rows():
    assert ns.probation_rows(10) == 1
    assert ns.probation_rows(1000) == 150
    assert ns.probation_rows(10_000) == 750


def test_scaled_sigmoid_edges():
    assert ns.scaled_sigmoid(-1.0) == pytest.approx(0.9866142981514305)
    assert ns.scaled_sigmoid(0.0) == 0.0
    assert ns.scaled_sigmoid(3.5) == -1.0


def test_positions_inside_and_after_a_window():
    pts = points([0.0] * 10)
    assert len(pts) == 9  # probationary row dropped
    by_row = {i + 1: p for i, p in enumerate(pts)}
    assert by_row[4].window and by_row[4].value == pytest.approx(sig(-1.0))  # left edge
    assert by_row[5].value == pytest.approx(sig(-0.5))  # -(5-5+1)/2
    assert by_row[2].window is None and by_row[2].value == -1.0  # no window before it
    assert by_row[7].value == pytest.approx(sig(2.0))  # |5-7| / (2-1) widths past the end


def test_sweep_picks_the_best_threshold_and_normalises():
    # detections: row 2 (0.9, FP before any window), row 5 (0.8, late TP), row 7 (0.7, FP)
    scores = [0, 0, 0.9, 0, 0, 0.8, 0, 0.7, 0, 0]
    pts = points(scores)
    tp_late = sig(-0.5) / sig(-1.0)
    by_t = {round(s.threshold, 2): s.score for s in ns.sweep(pts, STANDARD)}
    assert by_t[1.1] == pytest.approx(-1.0)  # nothing detected: the window is missed
    assert by_t[0.9] == pytest.approx(-1.0 - 0.11)
    assert by_t[0.8] == pytest.approx(tp_late - 0.11)
    assert by_t[0.7] == pytest.approx(tp_late - 0.11 + 0.11 * sig(2.0))
    best = ns.best_threshold(pts, STANDARD)
    assert best.threshold == 0.8
    null = ns.null_score(pts, STANDARD)
    assert null == -1.0
    assert ns.normalised(best.score, null, 1, STANDARD) == pytest.approx(
        100 * (tp_late - 0.11 + 1) / 2
    )


def test_profiles_weigh_fp_and_fn_differently():
    pts = points([0, 0, 0.9, 0, 0, 0, 0, 0, 0, 0])  # one FP, window missed
    assert ns.score_at(pts, STANDARD, 0.5) == pytest.approx(-1 - 0.11)
    assert ns.score_at(pts, LOW_FP, 0.5) == pytest.approx(-1 - 0.22)
    assert ns.score_at(pts, LOW_FN, 0.5) == pytest.approx(-2 - 0.11)


def test_only_the_first_detection_in_a_window_counts_and_perfect_is_100():
    pts = points([0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    assert ns.score_at(pts, STANDARD, 0.5) == pytest.approx(1.0)
    assert ns.normalised(1.0, -1.0, 1, STANDARD) == 100.0


def test_a_window_edge_that_is_not_a_row_is_an_error():
    with pytest.raises(ns.WindowError):
        ns.file_points("f.csv", TS, [0] * 10, [(TS[4] + timedelta(seconds=1), TS[5])])
