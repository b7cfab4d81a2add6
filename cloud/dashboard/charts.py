"""Line charts as inline SVG, drawn on the server (no script library, no network).

Each series is one `<path class="series" data-series="NAME">`; the root `<svg>` carries
`data-series-count`, so a page (or a test) can tell what was drawn without parsing geometry.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 230
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 26, 28  # margins: y labels left, legend right
LEGEND_CHARS: Final = 26  # longer names are shortened in the legend (full name on hover)
PALETTE: Final = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
)  # fmt: skip
LEGEND_MAX: Final = 12  # more series than this are drawn but not all named

Point = tuple[int, float]
LIMIT: Final = 1e300  # values beyond are drawn at this bound (the axis arithmetic stays finite)


def nice_step(span: float, steps: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) splitting `span` into at most
    `steps` parts."""
    raw = span / steps if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))


def nice_bounds(low: float, high: float, steps: int = 4) -> tuple[float, float, float]:
    """(low, high, step) widened to round multiples of a round step, so tick labels differ
    and read well (11.96, 11.98, 12.00, ... rather than 12, 12, 12)."""
    step = nice_step(high - low, steps)
    for _ in range(3):  # widening may need a larger step to stay within `steps`
        lo, hi = math.floor(low / step) * step, math.ceil(high / step) * step
        if round((hi - lo) / step) <= steps:
            return lo, hi, step
        step = nice_step(hi - lo, steps)
    return lo, hi, step


def _fmt_value(value: float, step: float | None = None) -> str:
    """A tick label with as many decimals as the step needs; exponent only when huge/tiny."""
    if (
        value != 0
        and not 0.001 <= abs(value) < 1e7
        and (step is None or step < 1e-3 or step >= 1e6)
    ):
        return f"{value:.2e}"
    if step is None:
        return f"{value:.4g}"
    exp10 = math.floor(math.log10(step) + 1e-9)
    decimals = max(0, -exp10 + (1 if round(step / 10**exp10, 6) == 2.5 else 0))
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def _fmt_time(ms: int, span_ms: int) -> str:
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    if span_ms > 2 * 86_400_000:
        return when.strftime("%m-%d %H:%M")
    return when.strftime("%H:%M:%S" if span_ms < 600_000 else "%H:%M")


def _y_bounds(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 if not math.isclose(low, high) else (abs(low) * 0.05 or 1.0)
    return low - pad, high + pad


def line_chart(
    chart_id: str,
    title: str,
    unit: str,
    series: Mapping[str, Sequence[Point]],
    start_ms: int,
    end_ms: int,
    *,
    from_zero: bool = False,
) -> str:
    """An SVG line chart of `series` (name -> [(time_ms, value), ...]) over [start_ms, end_ms).

    `from_zero`: the y axis starts at 0 (counts and rates)."""
    drawn = {
        name: [(ms, max(-LIMIT, min(LIMIT, v))) for ms, v in points if math.isfinite(v)]
        for name, points in series.items()
    }
    drawn = {name: points for name, points in drawn.items() if points}
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{escape(chart_id)}" '
        f'data-series-count="{len(drawn)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
        f'<text class="title" x="{LEFT}" y="16">{escape(title)}'
        f"{f' ({escape(unit)})' if unit else ''}</text>"
    )
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    frame = (
        f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#ccc"/>'
    )
    if not drawn:
        return (
            head + frame + f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
            'text-anchor="middle" fill="#888">no data in range</text></svg>'
        )
    span_ms = max(end_ms - start_ms, 1)
    values = [v for points in drawn.values() for _, v in points]
    if from_zero:  # counts: 0 at the bottom, whole numbers on the grid steps
        low, high, step = nice_bounds(0.0, float(max(4, max(values))))
        step = max(1.0, step)
        high = max(high, step * math.ceil(max(values) / step))
    else:
        low, high, step = nice_bounds(*_y_bounds(values))

    def x_of(ms: int) -> float:
        return LEFT + plot_w * (ms - start_ms) / span_ms

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = [head, frame]
    for i in range(round((high - low) / step) + 1):  # horizontal grid and y labels
        value = low + step * i
        y = y_of(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text class="ylabel" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="10">{_fmt_value(value, step)}</text>'
        )
    for i in range(5):  # time labels
        ms = start_ms + span_ms * i // 4
        parts.append(
            f'<text class="xlabel" x="{x_of(ms):.1f}" y="{HEIGHT - 8}" text-anchor="middle" '
            f'font-size="10">{_fmt_time(ms, span_ms)}</text>'
        )
    for index, (name, points) in enumerate(sorted(drawn.items())):
        colour = PALETTE[index % len(PALETTE)]
        ordered = sorted(points)
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x_of(ms):.1f},{y_of(v):.1f}"
            for i, (ms, v) in enumerate(ordered)
        )
        if len(ordered) == 1:
            path += " h0.1"  # a lone point still shows (round caps)
        parts.append(
            f'<path class="series" data-series="{escape(name)}" data-points="{len(ordered)}" '
            f'd="{path}" fill="none" stroke="{colour}" stroke-width="2" '
            'stroke-linecap="round" stroke-linejoin="round"/>'
        )
        if index < LEGEND_MAX:
            y = TOP + 6 + index * 14
            label = name if len(name) <= LEGEND_CHARS else name[: LEGEND_CHARS - 1] + "…"
            parts.append(
                f'<rect x="{WIDTH - RIGHT + 10}" y="{y}" width="10" height="3" fill="{colour}"/>'
                f'<text class="legend" x="{WIDTH - RIGHT + 24}" y="{y + 5}" font-size="10">'
                f"<title>{escape(name)}</title>{escape(label)}</text>"
            )
    if len(drawn) > LEGEND_MAX:
        parts.append(
            f'<text class="legend" x="{WIDTH - RIGHT + 10}" y="{TOP + 6 + LEGEND_MAX * 14 + 5}" '
            f'font-size="10">+{len(drawn) - LEGEND_MAX} more</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
