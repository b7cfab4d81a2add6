"""Leave-one-category-out cross-validation: published detectors scored on the shared NAB subset
reproduce NAB's own figures in-sample, and each held-out category is scored with a threshold
chosen on the others only."""

from pathlib import Path

import pytest

from bench import nab_cv
from bench import nab_score as ns
from bench.nab import load_windows, published_scores

NAB = Path(__file__).resolve().parents[2].parent / "shared" / "nab"
# NAB's own scorer on its shipped results of these 31 files (shared/nab/README.md)
PUBLISHED_IN_SAMPLE = {"numenta": (66.42, 59.80, 70.95), "ARTime": (72.93, 62.04, 78.93)}


@pytest.fixture(scope="module")
def reports():
    windows = load_windows(NAB / "labels" / "combined_windows.json")
    files = sorted(p.relative_to(NAB / "data").as_posix() for p in (NAB / "data").rglob("*.csv"))
    out = {}
    for peer in PUBLISHED_IN_SAMPLE:
        s = nab_cv.series(published_scores(NAB / "results", peer, files), windows)
        out[peer] = (s, nab_cv.cross_validate(s))
    return out


@pytest.mark.parametrize("peer", sorted(PUBLISHED_IN_SAMPLE))
def test_in_sample_reproduces_nabs_own_figures(reports, peer):
    _, rep = reports[peer]
    got = tuple(round(rep[p.name]["in_sample"], 2) for p in ns.PROFILES)
    assert got == PUBLISHED_IN_SAMPLE[peer]


def test_each_category_is_scored_with_a_threshold_chosen_without_it(reports):
    series, rep = reports["numenta"]
    prof = ns.PROFILES[0]
    cats = rep[prof.name]["categories"]
    assert len(cats) == 7
    for cat, c in cats.items():
        others = [p for s in series.values() if s.category != cat for p in s.points]
        assert c["threshold"] == ns.best_threshold(others, prof).threshold
    # a category without windows has no normalised score, only its false positives
    assert cats["artificialNoAnomaly"]["score"] is None
    assert cats["artificialNoAnomaly"]["windows"] == 0


def test_choosing_among_one_candidate_is_plain_cross_validation(reports):
    series, rep = reports["ARTime"]
    sel = nab_cv.select_constants({"only": series})
    for prof in ns.PROFILES:
        assert sel[prof.name]["cv"] == pytest.approx(rep[prof.name]["cv"])
