"""Pure parts: filters from the query string, bucket sizes, drift, health, SVG charts."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.dashboard import charts, model

SVG = "{http://www.w3.org/2000/svg}"


# ---- filters ---------------------------------------------------------------------------------


def test_filters_defaults_and_values():
    assert model.Filters.from_query({}) == model.Filters(None, None, model.DEFAULT_RANGE)
    parsed = model.Filters.from_query(parse_qs("site=north&device=dev-1&range=15m"))
    assert parsed == model.Filters("north", "dev-1", "15m")
    blank = model.Filters.from_query(parse_qs("site=&device=&range=", keep_blank_values=True))
    assert blank == model.Filters(None, None, model.DEFAULT_RANGE)


@pytest.mark.parametrize(
    "query, evidence",
    [("range=2d", "2d"), ("site=a'b", "a'b"), ("device=a%20b", "a b"), ("x=1", ["x"])],
)
def test_bad_filters_name_the_value(query, evidence):
    with pytest.raises(model.FilterError) as caught:
        model.Filters.from_query(parse_qs(query))
    assert caught.value.evidence == evidence


@given(st.text(max_size=300))
def test_any_query_string_gives_filters_or_a_filter_error(raw):
    try:
        filters = model.Filters.from_query(parse_qs(raw, keep_blank_values=True))
    except model.FilterError as exc:
        assert str(exc)
        return
    assert filters.range in model.RANGES_S
    for value in (filters.site, filters.device):  # safe to place in SQL parameters and a URL
        assert value is None or re.fullmatch(r"[A-Za-z0-9_:-]+", value)


# ---- buckets, drift, health ------------------------------------------------------------------


@given(st.integers(1, 400 * 86_400_000), st.integers(10, 200))
def test_bucket_is_the_smallest_nice_one_within_the_target(span_ms, target):
    bucket = model.bucket_ms_for(span_ms, target)
    assert math.ceil(span_ms / bucket) <= target
    smaller = [s * 1000 for s in model.NICE_BUCKETS_S if s * 1000 < bucket]
    assert all(math.ceil(span_ms / s) > target for s in smaller)


def test_zero_filled_covers_every_bucket():
    points = model.zero_filled({60_000: 2, 180_000: 1}, 30_000, 200_000, 60_000)
    assert points == [(0, 0.0), (60_000, 2.0), (120_000, 0.0), (180_000, 1.0)]


def test_drift():
    rows = model.drift({"a": [(0, 20.0), (3_600_000, 21.0)], "b": [(0, 25.0)], "c": []})
    by = {r["device"]: r for r in rows}
    assert set(by) == {"a", "b"}
    assert by["a"]["delta_c"] == 1.0 and by["a"]["per_hour_c"] == pytest.approx(1.0)
    assert by["b"]["per_hour_c"] is None  # one bucket: no rate
    assert by["a"]["offset_from_fleet_c"] == pytest.approx(21.0 - 23.0)


def test_drift_is_a_trend_a_spike_does_not_make_one():
    """A steady 0.5 °C/h over an hour of minute buckets, with a 30 s spike of +15 °C near the
    end: the trend stays 0.5 °C/h (last-minus-first would say about 15 °C/h). Over two minutes
    there is no trend to speak of: no rate at all."""
    points = [(m * 60_000, 20.0 + 0.5 * m / 60) for m in range(61)]
    points[58] = (points[58][0], points[58][1] + 15.0)
    points[59] = (points[59][0], points[59][1] + 15.0)
    (row,) = model.drift({"a": points})
    assert row["per_hour_c"] == pytest.approx(0.5, abs=0.01)
    short = [(s * 1000, 20.0 + (15.0 if 60 <= s < 90 else 0.0)) for s in range(0, 120, 5)]
    (row,) = model.drift({"a": short})
    assert row["per_hour_c"] is None and row["window_s"] == 115


def test_round_axis_ticks_differ_and_read_well():
    from cloud.dashboard.charts import _fmt_value, nice_bounds

    for low, high in [
        (11.991, 12.018),
        (0.0, 7.0),
        (20.1, 35.7),
        (101_210.0, 101_390.0),
        (-0.31, 0.22),
        (3.3, 3.3 + 1e-6),
    ]:
        lo, hi, step = nice_bounds(low, high)
        assert lo <= low and hi >= high and round((hi - lo) / step) <= 4
        labels = [_fmt_value(lo + step * i, step) for i in range(round((hi - lo) / step) + 1)]
        assert len(set(labels)) == len(labels), labels  # never "12, 12, 12"
        assert all("e" not in label for label in labels)


def test_battery_charge_from_the_bus_voltage_when_not_reported():
    from components.core import battery

    assert model.battery_of({"last_battery_pct": 55.0, "last_bus_voltage_v": 9.0}, 3) == (
        55.0,
        False,
    )
    pct, estimated = model.battery_of({"last_bus_voltage_v": battery.volts(40, 3)}, 3)
    assert estimated and pct == pytest.approx(40, abs=0.1)
    assert model.battery_of({"last_bus_voltage_v": 12.0}, None) == (None, False)


def test_health_of_sensor_and_reader_reports():
    ok = json.dumps({"event": "sensor_stats", "sensor": "env/x@1", "state": "ok"})
    bad = json.dumps({"event": "sensor_stats", "sensor": "power/y@2", "state": "faulty"})
    reader = json.dumps({"event": "reader_stats", "rejects": {"checksum": 3, "framing": 2}})
    new = json.dumps({"event": "sensor_stats", "sensor": "vib/z@3", "state": "new"})
    health = model.health_of(
        [
            ("d1", "health/x@1", ok, 5),
            ("d1", "health/y@2", bad, 7),
            ("d1", "health/r@s", reader, 6),
            ("d1", "health/z@3", new, 6),
            ("d2", "health/z@3", "{not json", 1),
        ]
    )
    assert health["d1"]["sensors_ok"] == 1
    assert health["d1"]["sensors_faulty"] == [{"stream": "power/y@2", "state": "faulty"}]
    assert health["d1"]["reader_rejects"] == 5 and health["d1"]["health_ms"] == 7
    assert health["d2"]["sensors_faulty"] == [
        {"stream": "health/z@3", "state": "unreadable report"}
    ]


# ---- charts ----------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_chart_one_path_per_series_with_escaped_names():
    svg = charts.line_chart(
        "t",
        "Temp <&>",
        "°C",
        {"dev-<1>": [(0, 1.0), (10, 2.0)], 'dev-"2"': [(5, 3.0)], "empty": []},
        0,
        10,
    )
    root = parse(svg)
    assert root.get("data-series-count") == "2"
    paths = root.findall(f".//{SVG}path")
    assert sorted(p.get("data-series") for p in paths) == ['dev-"2"', "dev-<1>"]
    assert {p.get("data-points") for p in paths} == {"1", "2"}


def test_chart_without_data_says_so():
    root = parse(charts.line_chart("e", "Empty", "", {"a": [(0, math.nan)]}, 0, 10))
    assert root.get("data-series-count") == "0"
    assert "no data" in "".join(root.itertext())


def test_count_chart_starts_at_zero():
    root = parse(charts.line_chart("c", "Counts", "n", {"a": [(0, 3.0), (5, 4.0)]}, 0, 10,
                                   from_zero=True))  # fmt: skip
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "ylabel"]
    assert labels == ["0", "1", "2", "3", "4"]  # whole counts on the grid


def test_long_legend_names_are_shortened_with_the_full_name_kept():
    name = "dev-0001 rfid/rdm6300@ttyUSB0-very-long"
    root = parse(charts.line_chart("r", "RFID", "", {name: [(0, 1.0)]}, 0, 10))
    legend = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "legend")
    assert legend.find(f"{SVG}title").text == name
    assert len(legend.find(f"{SVG}title").tail) == charts.LEGEND_CHARS


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.lists(
            st.tuples(st.integers(0, 10**6), st.floats(allow_nan=True, allow_infinity=True)),
            max_size=20,
        ),
        max_size=15,
    )
)
def test_any_series_give_well_formed_svg_with_finite_coordinates(series):
    clean = {k: v for k, v in series.items() if "\x00" not in k and k.isprintable()}
    svg = charts.line_chart("h", "t", "u", clean, 0, 10**6)
    root = parse(svg)
    drawn = [k for k, v in clean.items() if any(math.isfinite(y) for _, y in v)]
    assert root.get("data-series-count") == str(len(drawn))
    for path in root.iter(f"{SVG}path"):
        numbers = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?|nan|inf", path.get("d"))
        assert numbers and all(math.isfinite(float(n)) for n in numbers)
