"""Leave-one-category-out cross-validation of NAB scores, floorline beside published detectors.

    python -m bench.nab_cv --nab NAB_DIR [--peer numenta --peer ARTime]

For each NAB category (the first folder under data/), one threshold per profile is chosen by
NAB's sweep on every *other* category and the held-out category is scored with it: the score a
detector earns on streams its threshold never saw. Per category and overall (the held-out raw
scores summed, normalised against all windows), next to the in-sample score (threshold chosen on
all files), for floorline's novelty score and for the published results of the peers under
NAB_DIR/results/<peer>/ (their anomaly_score column, same files, splits and scorer).

A category without windows (artificialNoAnomaly) has no normalised score: its false positives
count in the overall score and are printed as a count.

floorline's scores are cached per file under bench/results/nab_cache/, keyed by the detector's
source and constants, so repeated runs and threshold sweeps do not recompute them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import nab_score as ns
from bench.nab import Scores, detect_scores, load_windows, published_scores, read_series
from bench.report import RESULTS, emit
from components.analytics import detectors as det_module
from components.analytics.detectors import NoveltyParams

CACHE = RESULTS / "nab_cache"
OURS = "floorline"
PEERS = ("numenta", "ARTime")


@dataclass(frozen=True)
class Series:
    """One file's scorable rows for one detector."""

    category: str
    points: list[ns.Point]
    windows: int


def category(rel: str) -> str:
    return rel.split("/", 1)[0]


def detector_key(params: NoveltyParams) -> str:
    """Changes whenever the detector's code or constants change: the cache's key."""
    h = hashlib.sha256(Path(det_module.__file__).read_bytes())
    h.update(json.dumps(params.__dict__, sort_keys=True).encode())
    return h.hexdigest()[:16]


def floorline_scores(data: Path, params: NoveltyParams) -> Scores:
    cache = CACHE / detector_key(params)
    out: Scores = {}
    for path in sorted(data.rglob("*.csv")):
        rel = path.relative_to(data).as_posix()
        _, times, values = read_series(path)
        cached = cache / (rel.replace("/", "__") + ".json")
        if cached.exists():
            scores = json.loads(cached.read_text())
        else:
            scores = [round(s, 6) for s in detect_scores(values, times, params)]
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(scores))
        out[rel] = (times, scores)
    return out


def series(
    scores: Scores, windows: Mapping[str, list[tuple[datetime, datetime]]]
) -> dict[str, Series]:
    return {
        rel: Series(category(rel), ns.file_points(rel, t, s, windows[rel]), len(windows[rel]))
        for rel, (t, s) in scores.items()
    }


@dataclass(frozen=True)
class Fold:
    """A held-out category's result for one profile."""

    profile: ns.Profile
    threshold: float  # chosen on the other categories
    raw: float
    null: float
    windows: int
    false_positives: int

    @property
    def normalised(self) -> float | None:
        return (
            None
            if self.windows == 0
            else ns.normalised(self.raw, self.null, self.windows, self.profile)
        )


def fold(held: Sequence[Series], rest: Sequence[Series], profile: ns.Profile) -> Fold:
    train = [p for s in rest for p in s.points]
    test = [p for s in held for p in s.points]
    threshold = ns.best_threshold(train, profile).threshold
    fps = sum(1 for p in test if p.window is None and p.anomaly_score >= threshold)
    return Fold(
        profile,
        threshold,
        ns.score_at(test, profile, threshold),
        ns.null_score(test, profile),
        sum(s.windows for s in held),
        fps,
    )


def cross_validate(files: Mapping[str, Series]) -> dict[str, Any]:
    """{profile: {"in_sample", "cv", "categories": {cat: {...}}}} for one detector: the
    threshold chosen per fold on the other categories, the constants fixed."""
    cats = sorted({s.category for s in files.values()})
    everything = list(files.values())
    all_points = [p for s in everything for p in s.points]
    n_windows = sum(s.windows for s in everything)
    out: dict[str, Any] = {}
    for prof in ns.PROFILES:
        best = ns.best_threshold(all_points, prof)
        null = ns.null_score(all_points, prof)
        per_cat: dict[str, Any] = {}
        raw_sum = null_sum = 0.0
        for cat in cats:
            held = [s for s in everything if s.category == cat]
            rest = [s for s in everything if s.category != cat]
            f = fold(held, rest, prof)
            raw_sum += f.raw
            null_sum += f.null
            per_cat[cat] = {
                "score": f.normalised,
                "threshold": f.threshold,
                "false_positives": f.false_positives,
                "windows": f.windows,
            }
        out[prof.name] = {
            "in_sample": ns.normalised(best.score, null, n_windows, prof),
            "in_sample_threshold": best.threshold,
            "cv": ns.normalised(raw_sum, null_sum, n_windows, prof),
            "categories": per_cat,
        }
    return out


def select_constants(candidates: Mapping[str, Mapping[str, Series]]) -> dict[str, Any]:
    """Nested leave-one-category-out: for each held-out category and profile, the candidate
    constants *and* the threshold are both chosen on the other categories only; the held-out
    category is scored with that choice. The honest score of the whole selection procedure."""
    names = list(candidates)
    first = candidates[names[0]]
    cats = sorted({s.category for s in first.values()})
    n_windows = sum(s.windows for s in first.values())
    out: dict[str, Any] = {}
    for prof in ns.PROFILES:
        raw_sum = null_sum = 0.0
        chosen: dict[str, str] = {}
        for cat in cats:

            def train_score(name: str, cat: str = cat, prof: ns.Profile = prof) -> float:
                train = [
                    p for s in candidates[name].values() if s.category != cat for p in s.points
                ]
                return ns.best_threshold(train, prof).score

            best = max(names, key=train_score)
            chosen[cat] = best
            held = [s for s in candidates[best].values() if s.category == cat]
            rest = [s for s in candidates[best].values() if s.category != cat]
            f = fold(held, rest, prof)
            raw_sum += f.raw
            null_sum += f.null
        out[prof.name] = {"cv": ns.normalised(raw_sum, null_sum, n_windows, prof), "chosen": chosen}
    return out


def run(
    nab: Path,
    peers: Sequence[str],
    params: NoveltyParams,
    scorer: Callable[[Path, NoveltyParams], Scores] = floorline_scores,
    grid: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    windows = load_windows(nab / "labels" / "combined_windows.json")
    ours = scorer(nab / "data", params)
    report: dict[str, Any] = {OURS: cross_validate(series(ours, windows))}
    if grid:
        candidates = {
            json.dumps(g, sort_keys=True): series(
                scorer(nab / "data", dataclasses.replace(params, **g)), windows
            )
            for g in grid
        }
        report["selection"] = select_constants(candidates)
    for peer in peers:
        report[peer] = cross_validate(
            series(published_scores(nab / "results", peer, list(ours)), windows)
        )
    return report


def print_report(report: Mapping[str, Any]) -> None:
    names = [n for n in report if n != "selection"]
    for prof in ns.PROFILES:
        print(f"\n{prof.name}: leave one category out (threshold chosen on the others)")
        print(f"{'category':24s}" + "".join(f"{n:>22s}" for n in names))
        cats = report[names[0]][prof.name]["categories"]
        for cat in cats:
            cells = []
            for n in names:
                c = report[n][prof.name]["categories"][cat]
                cell = (
                    f"{c['score']:.2f}" if c["score"] is not None else f"{c['false_positives']} FP"
                )
                cells.append(f"{cell} @{c['threshold']:.3f}")
            print(f"{cat:24s}" + "".join(f"{c:>22s}" for c in cells))
        print(
            f"{'overall, cross-validated':24s}"
            + "".join(f"{report[n][prof.name]['cv']:22.2f}" for n in names)
        )
        print(
            f"{'overall, in-sample':24s}"
            + "".join(f"{report[n][prof.name]['in_sample']:22.2f}" for n in names)
        )
        if "selection" in report:
            sel = report["selection"][prof.name]
            print(
                f"constants chosen per fold on the other categories too: {sel['cv']:.2f} "
                f"({sel['chosen']})"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--nab", type=Path, required=True, help="NAB folder with data/, labels/ and results/"
    )
    ap.add_argument("--peer", action="append", help=f"published detectors (default {PEERS})")
    ap.add_argument(
        "--grid",
        type=json.loads,
        default=[],
        help="candidate constants, JSON list of overrides of novelty.json, e.g. "
        '\'[{"daily_warmup": 0}, {"daily_warmup": 10}]\': reports the score '
        "of choosing among them per fold (nested cross-validation)",
    )
    args = ap.parse_args(argv)
    peers = args.peer or list(PEERS)
    report = run(args.nab, peers, NoveltyParams.load(), grid=args.grid)
    print_report(report)
    rows = []
    for prof in ns.PROFILES:
        ours = report[OURS][prof.name]
        for peer in peers:
            theirs = report[peer][prof.name]["cv"]
            rows.append(
                {
                    "figure": f"NAB {prof.name}, cross-validated, vs {peer}",
                    "value": round(ours["cv"], 2),
                    "unit": "",
                    "goal": f"> {peer}",
                    "peer": round(theirs, 2),
                    "ratio": round(ours["cv"] / theirs, 3),
                    "note": f"in-sample {ours['in_sample']:.2f}",
                }
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nab_cv_detail.json").write_text(json.dumps(report, indent=2) + "\n")
    emit("nab_cv", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
