"""The NAB runner on a small NAB-format directory of its own: one results file per input at
the same relative path, scores printed, thresholds reusable for unseen files."""

import csv
import json
import math
from datetime import datetime, timedelta

import pytest

from bench import nab


def write_series(path, n, spike_at=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = datetime(2021, 3, 1)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        for i in range(n):
            v = 10 + 3 * math.sin(2 * math.pi * i / 24) + (30 if i == spike_at else 0)
            w.writerow([(t0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S"), v])
    return [(t0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S.000000") for i in range(n)]


@pytest.mark.slow
def test_runner_writes_results_and_scores(tmp_path, capsys):
    data = tmp_path / "data"
    stamps = write_series(data / "groupA" / "one.csv", 1200, spike_at=900)
    write_series(data / "groupB" / "two.csv", 1000)
    labels = tmp_path / "windows.json"
    labels.write_text(
        json.dumps({"groupA/one.csv": [[stamps[880], stamps[960]]], "groupB/two.csv": []})
    )
    out = tmp_path / "out"
    assert nab.main(["--data", str(data), "--labels", str(labels), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "groupA" / "one.csv").open()))
    assert len(rows) == 1200 and set(rows[0]) == {"timestamp", "value", "anomaly_score"}
    assert rows[0]["timestamp"] == "2021-03-01 00:00:00"  # the input's own text
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in rows)
    assert float(rows[900]["anomaly_score"]) == 1.0  # the spike escapes the range
    assert (out / "groupB" / "two.csv").exists()
    figures = json.loads((out / "nab.json").read_text())
    assert figures["nab"]["scores"]["standard"] > 95  # one early detection, no FP
    assert figures["cost"]["unit"] == "us/reading" and figures["memory_per_stream"]["figure"] > 0
    text = capsys.readouterr().out
    assert "Numenta HTM" in text and "us/reading" in text
    # the chosen thresholds score other files as they are
    thresholds = out / "thresholds.json"
    assert (
        nab.main(
            [
                "--data",
                str(data),
                "--labels",
                str(labels),
                "--out",
                str(tmp_path / "again"),
                "--thresholds",
                str(thresholds),
            ]
        )
        == 0
    )
    assert "given thresholds" in capsys.readouterr().out


@pytest.mark.slow
def test_runner_without_labels_only_writes_results(tmp_path):
    data = tmp_path / "d"
    write_series(data / "x.csv", 300)
    assert nab.main(["--data", str(data), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "x.csv").exists() and not (tmp_path / "o" / "thresholds.json").exists()


def test_runner_reports_an_empty_directory(tmp_path):
    assert nab.main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_a_bad_row_is_named(tmp_path, capsys):
    data = tmp_path / "d"
    data.mkdir()
    (data / "x.csv").write_text("timestamp,value\n2021-03-01 00:00:00,1\n2021-03-01 00:05:00,n/a\n")
    assert nab.main(["--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "x.csv:3" in capsys.readouterr().err
