"""Run floorline's novelty detector over NAB-format CSVs and score it by NAB's rules.

    python -m bench.nab --data NAB_DIR/data --labels NAB_DIR/labels/combined_windows.json \
        --out nab-results

Every `*.csv` under --data (`timestamp,value`) gets a results file at the same relative path
under --out (`timestamp,value,anomaly_score`). The detector's constants are the fixed file
components/analytics/novelty.json: nothing is tuned per file. With --labels the results are
scored (standard, reward_low_FP_rate, reward_low_FN_rate) with thresholds optimised over the
whole directory, as NAB does, and printed next to NAB's scoreboard; the chosen thresholds are
written to --out/thresholds.json. `--thresholds FILE` scores with given thresholds instead (for
files the thresholds were not chosen on; bench/nab_thresholds.json holds those chosen on the
public NAB subset). The cost per reading of detection plus a tumbling
window (60 readings) is printed, with the memory one stream holds.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import nab_score as ns
from bench.report import emit
from components.analytics.detectors import NoveltyParams, NoveltyScore
from components.analytics.engine import Engine
from components.analytics.streams import parse_streams
from components.analytics.windows import TumblingWindow
from components.core.envelope import Record

# NAB's published scoreboard (NAB README, all 58 files) and NAB's shipped results of each
# detector scored on the 31-file public subset with thresholds optimised on that subset.
SCOREBOARD_FULL = {
    "ARTime": (74.9, 65.1, 80.4),
    "Numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "earthgecko Skyline": (58.2, 46.2, 63.9),
    "KNN CAD": (58.0, 43.4, 64.8),
    "Relative Entropy": (54.6, 47.6, 58.8),
    "Random Cut Forest (AWS)": (51.7, 38.4, 59.7),
    "Twitter ADVec": (47.1, 33.6, 53.5),
    "Windowed Gaussian": (39.6, 20.9, 47.4),
    "Null": (0.0, 0.0, 0.0),
}
SCOREBOARD_SUBSET = {
    "ARTime": (72.93, 62.04, 78.93),
    "CAD OSE": (71.22, 67.38, 74.76),
    "Numenta HTM": (66.42, 59.80, 70.95),
    "KNN CAD": (56.05, 39.67, 63.42),
    "earthgecko Skyline": (54.91, 41.10, 60.85),
    "Relative Entropy": (50.67, 42.04, 55.60),
    "Windowed Gaussian": (29.82, 7.60, 39.42),
    "Random": (14.99, 4.90, 29.06),
}
COST_LIMIT_US = 20.0
REPEATS = 3
WINDOW_READINGS = 60  # cost figures use windows that hold this many readings (60 s at 1 Hz)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def epoch_ms(t: datetime) -> int:
    """NAB timestamps carry no zone: read them as UTC, so the score is the same anywhere."""
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)


class SeriesError(ValueError):
    """A row of a NAB-format file that cannot be read; names the file and the line."""


def read_series(path: Path) -> tuple[list[tuple[str, str]], list[datetime], list[float]]:
    """(the row's own timestamp and value text, parsed times, parsed values)."""
    raw, times, values = [], [], []
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                times.append(parse_time(row["timestamp"]))
                values.append(float(row["value"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise SeriesError(f"{path}:{line}: {exc}: {row!r}") from exc
            raw.append((row["timestamp"], row["value"]))
    return raw, times, values


def window_s(times: list[datetime]) -> float:
    """A window length holding WINDOW_READINGS readings at the file's median interval (NAB
    files are sampled every 5 min: a 60 s window would close on every reading)."""
    gaps = sorted((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))
    return WINDOW_READINGS * (gaps[len(gaps) // 2] if gaps and gaps[len(gaps) // 2] > 0 else 1.0)


def detect_scores(values: list[float], times: list[datetime], params: NoveltyParams) -> list[float]:
    """The novelty score of every row of one file, in order."""
    det = NoveltyScore(params)
    return [det.update(v, epoch_ms(t) / 1000.0) for t, v in zip(times, values, strict=True)]


def detect(
    values: list[float], times: list[datetime], params: NoveltyParams
) -> tuple[list[float], float]:
    """Scores of one file, and the seconds spent in detection plus window aggregation."""
    det = NoveltyScore(params)
    win = TumblingWindow(window_s(times))
    stamps = [epoch_ms(t) for t in times]
    t0 = time.perf_counter()
    scores = []
    for t_ms, v in zip(stamps, values, strict=True):
        scores.append(det.update(v, t_ms / 1000.0))
        win.add(t_ms, {"value": v})
    return scores, time.perf_counter() - t0


ENGINE_STREAM = "nab/series@0"
ENGINE_DETECTORS = {
    "detectors": [
        {"type": "threshold", "high": 1e12, "low": -1e12, "hysteresis": 1.0},
        {"type": "rate", "maxPerSecond": 1e12},
        {"type": "flatline", "seconds": 86400.0, "epsilon": 0.0},
        {"type": "novelty"},
        {"type": "silence", "seconds": 86400.0},
    ]
}


def engine_cost_s(values: list[float], times: list[datetime], params: NoveltyParams) -> float:
    """Seconds the whole per-stream pipeline (window + five detectors + alerts) takes."""
    config = {ENGINE_STREAM: {"windowSeconds": window_s(times), **ENGINE_DETECTORS}}
    eng = Engine("bench", parse_streams(config), novelty=params)
    recs = [
        Record("bench", ENGINE_STREAM, i + 1, "raw", 0, epoch_ms(t), True, {"value": v})
        for i, (t, v) in enumerate(zip(times, values, strict=True))
    ]
    t0 = time.perf_counter()
    for r in recs:
        eng.process(r)
    return time.perf_counter() - t0


def stream_memory_bytes(values: list[float], times: list[datetime], params: NoveltyParams) -> int:
    """Bytes one stream's detector and open window hold after the whole file."""
    stamps = [epoch_ms(t) for t in times]
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    det, win = NoveltyScore(params), TumblingWindow(window_s(times))
    for t_ms, v in zip(stamps, values, strict=True):
        det.update(v, t_ms / 1000.0)
        win.add(t_ms, {"value": v})
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(s.size_diff for s in snap.compare_to(base, "filename") if s.size_diff > 0)


Scores = dict[str, tuple[list[datetime], list[float]]]  # file -> (timestamps, scores)


def published_scores(results: Path, peer: str, files: Sequence[str]) -> Scores:
    """A published detector's anomaly_score per row (NAB's results/<peer>/<cat>/<peer>_<f>)."""
    out: Scores = {}
    for rel in files:
        cat, name = rel.split("/", 1)
        path = results / peer / cat / f"{peer}_{name}"
        times, scores = [], []
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                times.append(parse_time(row["timestamp"]))
                scores.append(float(row["anomaly_score"]))
        out[rel] = (times, scores)
    return out


def load_windows(path: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    raw = json.loads(path.read_text())
    return {k: [(parse_time(a), parse_time(b)) for a, b in v] for k, v in raw.items()}


HTM = "numenta"


def htm_same_files(
    data: Path, windows: dict[str, list[tuple[datetime, datetime]]], fixed: dict[str, float] | None
) -> dict[str, float] | None:
    """Numenta HTM's published results (DATA/../results/numenta) on exactly these files, scored
    the same way (thresholds optimised on these files). None for a fixed-threshold run or when
    a file has no published result: a peer figure on other files does not compare."""
    files = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.csv"))
    results = data.parent / "results"
    if fixed is not None or any(
        not (results / HTM / f.split("/", 1)[0] / f"{HTM}_{f.split('/', 1)[1]}").exists()
        for f in files
    ):
        return None
    scores = published_scores(results, HTM, files)
    points = [p for f in files for p in ns.file_points(f, *scores[f], windows[f])]
    n = sum(len(windows[f]) for f in files)
    return {
        prof.name: ns.normalised(
            ns.best_threshold(points, prof).score, ns.null_score(points, prof), n, prof
        )
        for prof in ns.PROFILES
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="directory of NAB-format CSVs")
    ap.add_argument("--out", type=Path, required=True, help="directory for the results CSVs")
    ap.add_argument("--labels", type=Path, help="NAB combined_windows.json (to score)")
    ap.add_argument("--thresholds", type=Path, help="score with these thresholds (JSON)")
    ap.add_argument("--json", type=Path, help="write the figures here (default OUT/nab.json)")
    args = ap.parse_args(argv)

    params = NoveltyParams.load()
    files = sorted(p for p in args.data.rglob("*.csv"))
    if not files:
        print(f"no CSV files under {args.data}", file=sys.stderr)
        return 2
    windows = load_windows(args.labels) if args.labels else None
    points: list[ns.Point] = []
    n_windows = 0
    readings, spent_s, engine_s = 0, 0.0, 0.0
    biggest: tuple[list[float], list[datetime]] = ([], [])  # the longest file: memory figure
    for path in files:
        rel = path.relative_to(args.data).as_posix()
        try:
            raw, times, values = read_series(path)
        except SeriesError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        scores, dt = detect(values, times, params)
        readings += len(values)
        # best of three: the figure is the pipeline's cost, not other processes' load
        engine_s += min(engine_cost_s(values, times, params) for _ in range(REPEATS))
        spent_s += min([dt] + [detect(values, times, params)[1] for _ in range(REPEATS - 1)])
        if len(values) > len(biggest[0]):
            biggest = (values, times)
        out = args.out / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value", "anomaly_score"])
            for (ts, v), s in zip(raw, scores, strict=True):
                w.writerow([ts, v, f"{s:.6f}"])
        if windows is not None:
            if rel not in windows:
                print(f"warning: {rel} has no labels; not scored", file=sys.stderr)
                continue
            n_windows += len(windows[rel])
            points += ns.file_points(rel, times, [round(s, 6) for s in scores], windows[rel])

    us_per_reading = spent_s / readings * 1e6
    engine_us = engine_s / readings * 1e6
    mem = stream_memory_bytes(biggest[0], biggest[1], params)
    figures: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()}".strip(),
        "files": len(files),
        "readings": readings,
        "cost": {
            "figure": round(us_per_reading, 2),
            "unit": "us/reading",
            "limit": COST_LIMIT_US,
            "ratio": round(us_per_reading / COST_LIMIT_US, 3),
        },
        "engine_cost": {
            "figure": round(engine_us, 2),
            "unit": "us/reading",
            "limit": COST_LIMIT_US,
            "ratio": round(engine_us / COST_LIMIT_US, 3),
            "note": "window + threshold, rate, flatline, novelty, silence",
        },
        "memory_per_stream": {
            "figure": mem,
            "unit": "bytes",
            "note": f"after {len(biggest[0])} readings",
        },
    }
    if windows is not None:
        fixed = json.loads(args.thresholds.read_text()) if args.thresholds else None
        ours: dict[str, float] = {}
        chosen: dict[str, float] = {}
        for prof in ns.PROFILES:
            if fixed is None:
                best = ns.best_threshold(points, prof)
                raw_score, chosen[prof.name] = best.score, best.threshold
            else:
                chosen[prof.name] = fixed[prof.name]
                raw_score = ns.score_at(points, prof, fixed[prof.name])
            null = ns.null_score(points, prof)
            ours[prof.name] = ns.normalised(raw_score, null, n_windows, prof)
        args.out.mkdir(parents=True, exist_ok=True)
        if fixed is None:
            (args.out / "thresholds.json").write_text(json.dumps(chosen, indent=2) + "\n")
        figures["nab"] = {
            "scores": ours,
            "thresholds": chosen,
            "windows": n_windows,
            "peer_same_files": htm_same_files(args.data, windows, fixed),
        }
        print_table(ours, chosen, fixed is not None)
    print(
        f"\ncost: {us_per_reading:.2f} us/reading (novelty score + window of "
        f"{WINDOW_READINGS} readings); "
        f"{engine_us:.2f} us/reading for the whole pipeline (window + threshold, rate, "
        f"flatline, novelty, silence detectors); limit {COST_LIMIT_US:g} us\n"
        f"memory per stream {mem / 1024:.1f} KiB "
        f"(bounded: {params.max_transitions} transitions max); {readings} readings in "
        f"{len(files)} files; {figures['machine']}"
    )
    out_json = args.json or args.out / "nab.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(figures, indent=2) + "\n")
    rows = [
        {
            "figure": "detectors + window per reading",
            "value": us_per_reading,
            "unit": "us",
            "goal": f"<= {COST_LIMIT_US:g}",
        },
        {
            "figure": "whole pipeline per reading",
            "value": engine_us,
            "unit": "us",
            "goal": f"<= {COST_LIMIT_US:g}",
        },
        {"figure": "memory per stream", "value": mem / 1024, "unit": "KiB", "goal": "bounded"},
    ]
    htm = figures.get("nab", {}).get("peer_same_files") or {}
    for name, score in (figures.get("nab", {}).get("scores") or {}).items():
        peer = htm.get(name)
        rows.append(
            {
                "figure": f"NAB {name} score ({len(files)} files)",
                "value": score,
                "unit": "",
                "goal": "> Numenta HTM on the same files",
                "peer": peer,
                "ratio": score / peer if peer else None,
                "note": None if peer else "no HTM results for these files",
            }
        )
    emit("nab", rows)
    return 0


def print_table(ours: dict[str, float], chosen: dict[str, float], fixed: bool) -> None:
    names = [p.name for p in ns.PROFILES]
    how = "given thresholds" if fixed else "thresholds optimised on these files"
    print(f"{'detector':34s} {'standard':>9s} {'low FP':>9s} {'low FN':>9s}")
    print(f"{'floorline novelty (' + how + ')':34s} " + " ".join(f"{ours[n]:9.2f}" for n in names))
    print("  thresholds: " + ", ".join(f"{n}={chosen[n]:.4f}" for n in names))
    print("NAB shipped results, 31-file public subset:")
    for name, s in SCOREBOARD_SUBSET.items():
        print(f"  {name:32s} " + " ".join(f"{v:9.2f}" for v in s))
    print("NAB scoreboard, all 58 files:")
    for name, s in SCOREBOARD_FULL.items():
        print(f"  {name:32s} " + " ".join(f"{v:9.2f}" for v in s))


if __name__ == "__main__":
    raise SystemExit(main())
