"""Reports as plain tables: the one layout that the terminal (rich) and the status page (HTML)
both render, so the two show the same thing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.console.doctor import CheckResult
from components.console.levels import Level, overall
from components.console.verify import VerifyReport
from components.core.envelope import DRAIN_ORDER


@dataclass
class Row:
    cells: list[str]
    level: Level | None = None  # colours the row's verdict cell when set


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    level: Level | None = Level.OK  # None: a plain listing with no verdict
    note: str = ""
    # Columns of free text (details, reasons, remedies) by index: the only ones that may
    # wrap, and only between words; every other cell is a value, never split.
    text_columns: frozenset[int] = frozenset()


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0.0, seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def fmt_wall(wall_ms: int) -> str:
    """UTC time of day with milliseconds, for live lines."""
    import datetime as dt

    return dt.datetime.fromtimestamp(wall_ms / 1000, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def fmt_clock(wall_ms: int | None, now_wall_ms: int) -> str:
    """When something happened, in UTC: the time of day if within the last day, else the
    date too."""
    import datetime as dt

    if wall_ms is None:
        return "-"
    t = dt.datetime.fromtimestamp(wall_ms / 1000, dt.UTC)
    return t.strftime("%H:%M:%S" if abs(now_wall_ms - wall_ms) < 20 * 3600_000 else "%b %d %H:%M")


def fmt_since(wall_ms: int | None, now_wall_ms: int) -> str:
    """`10:02:13 (5 min)`: since when, and how long that is."""
    if wall_ms is None:
        return "-"
    return f"{fmt_clock(wall_ms, now_wall_ms)} ({fmt_age((now_wall_ms - wall_ms) / 1000)})"


# Unit suffixes of reading names (CONVENTIONS.md: units in names) and how a person reads them.
_UNITS: dict[str, tuple[str, float, int]] = {  # suffix: (shown unit, scale, decimals)
    "_pa": ("hPa", 0.01, 1),
    "_c": ("°C", 1.0, 2),
    "_pct": ("%", 1.0, 1),
    "_g": ("g", 1.0, 3),
    "_v": ("V", 1.0, 3),
    "_w": ("W", 1.0, 3),
    "_hz": ("Hz", 1.0, 1),
    "_s": ("s", 1.0, 3),
    "_ohm": ("Ω", 1.0, 1),
}


def fmt_number(v: float, decimals: int = 3) -> str:
    """Fixed point, never `1.013e+05`: large numbers grouped, others with `decimals`."""
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if abs(v) >= 100_000:
        return f"{v:,.0f}"
    return f"{v:.{decimals}f}"


def fmt_reading(key: str, value: object) -> str:
    """`temperature_c=20.52°C`, `pressure_pa=1013.3hPa`, `current_a=123.4mA`: one word, so
    no layout splits it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key}={value}"
    if key.endswith("_a"):
        unit, v = ("mA", value * 1000) if abs(value) < 1 else ("A", value)
        return f"{key}={fmt_number(v, 1 if unit == 'mA' else 3)}{unit}"
    for suffix, (unit, scale, decimals) in _UNITS.items():
        if key.endswith(suffix):
            return f"{key}={fmt_number(value * scale, decimals)}{unit}"
    return f"{key}={value}" if isinstance(value, int) else f"{key}={fmt_number(value)}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _lv(name: str) -> Level:
    return Level[name]


def status_tables(report: Mapping[str, Any]) -> list[Table]:
    led = report["led"]
    out = [
        Table(
            "Status LED",
            ["shows", "meaning", "why"],
            [
                Row(
                    [led["state"], led["meaning"], "; ".join(led["reasons"]) or "-"],
                    _lv(led["level"]),
                )
            ],
            _lv(led["level"]),
            text_columns=frozenset({1, 2}),
        )
    ]

    now = report["now_wall_ms"]
    comps = Table(
        "Components", ["component", "state", "since (UTC)", "why"], text_columns=frozenset({3})
    )
    for c in report["components"]:
        comps.rows.append(
            Row(
                [c["name"], c["state"], fmt_since(c["since_wall_ms"], now), c["detail"]],
                _lv(c["level"]),
            )
        )
    nuc = report["nucleus"]
    comps.rows.append(
        Row(
            ["nucleus", "reachable" if nuc["reachable"] else "unknown", "-", nuc["detail"]],
            _lv(nuc["level"]),
        )
    )
    comps.level = overall(r.level for r in comps.rows if r.level is not None)
    out.append(comps)

    clk = report["clock"]
    synced = {True: "synced", False: "NOT synced", None: "unknown"}[clk["synced"]]
    out.append(
        Table(
            "Clock",
            ["sync", "source", "detail"],
            [Row([synced, clk["source"], clk["detail"]], _lv(clk["level"]))],
            _lv(clk["level"]),
            text_columns=frozenset({2}),
        )
    )

    buf = report["buffer"]
    bt = Table(
        "Buffer (records held in the log)",
        ["class", "records", "oldest"],
        level=_lv(buf["level"]),
        note=f"log uses {fmt_bytes(buf['used_bytes'])} of {fmt_bytes(buf['budget_bytes'])}"
        f" ({buf['used_pct']}%); disk free {fmt_bytes(buf['free_disk_bytes'])}, "
        f"floor {fmt_bytes(buf['free_floor_bytes'])}",
    )
    for c in buf["classes"]:
        bt.rows.append(Row([c["cls"], f"{c['records']:,}", fmt_age(c["oldest_age_s"])]))
    out.append(bt)

    up = report["uplink"]
    ut = Table(
        "Uplink",
        ["consumer", "class", "unsent", "oldest unsent", "last ack"],
        level=_lv(up["level"]),
        note=f"{up['detail']}: {up['backlog_records']:,} unsent, oldest "
        f"{fmt_age(up['oldest_unsent_age_s'])}; last successful hand-over "
        f"{fmt_age(up['last_uplink_age_s'])} ago",
    )
    for c in up["consumers"]:
        ut.rows.append(
            Row(
                [
                    c["name"],
                    c["cls"],
                    f"{c['backlog']:,}",
                    fmt_age(c["oldest_unsent_age_s"]),
                    fmt_age(c["last_ack_age_s"]),
                ]
            )
        )
    out.append(ut)
    if up.get("local_consumers"):
        lt = Table(
            "On-device consumers (work to do here)",
            ["consumer", "class", "to process", "oldest", "last step"],
            level=None,
        )
        for c in up["local_consumers"]:
            lt.rows.append(
                Row(
                    [
                        c["name"],
                        c["cls"],
                        f"{c['backlog']:,}",
                        fmt_age(c["oldest_unsent_age_s"]),
                        fmt_age(c["last_ack_age_s"]),
                    ]
                )
            )
        out.append(lt)

    drops = report["drops"]
    dt = Table(
        "Drops (counted, never silent)", ["what", "reason", "records"], level=_lv(drops["level"])
    )
    for d in drops["rows"]:
        dt.rows.append(Row([d["what"], d["reason"], f"{d['records']:,}"], Level.WARN))
    if not drops["rows"]:
        dt.note = "nothing dropped"
    out.append(dt)

    st = Table(
        "Sensors and readers",
        ["stream", "state", "since (UTC)", "records", "detail"],
        text_columns=frozenset({4}),
    )
    for s in report["sensors"]:
        st.rows.append(
            Row(
                [
                    s["stream"],
                    s["state"],
                    fmt_since(s.get("since_wall_ms"), now),
                    "-" if s["produced"] is None else f"{s['produced']:,}",
                    s["detail"],
                ],
                _lv(s["level"]),
            )
        )
    st.level = overall(r.level for r in st.rows if r.level is not None)
    if not st.rows:
        st.note = "no source has written to the log yet"
    out.append(st)
    return out


def stats_tables(stats: Mapping[str, Any], streams: Sequence[Mapping[str, Any]]) -> list[Table]:
    note = (
        f"log {fmt_bytes(stats['used_bytes'])} of {fmt_bytes(stats['budget_bytes'])} "
        f"(WAL {fmt_bytes(stats['wal_bytes'])})"
    )
    classes = Table("Records held per class", ["class", "records"], level=None, note=note)
    for cls in DRAIN_ORDER:
        classes.rows.append(Row([cls, str(stats["classes"][cls]["records"])]))
    backlog = Table("Backlog per consumer", ["consumer", "class", "unacknowledged"], level=None)
    for name, per in sorted((stats.get("backlog") or {}).items()):
        for cls, entry in per.items():
            backlog.rows.append(Row([name, cls, str(entry["records"])]))
    per_stream = Table("Streams", ["device", "stream", "class", "produced", "evicted"], level=None)
    for s in streams:
        per_stream.rows.append(
            Row([s["device"], s["stream"], s["cls"], str(s["produced"]), str(s["evicted"])])
        )
    counters = Table("Counters", ["name", "value"], level=None)
    for name, value in sorted((stats.get("counters") or {}).items()):
        counters.rows.append(Row([name, str(value)]))
    return [classes, backlog, per_stream, counters]


def verify_tables(report: VerifyReport) -> list[Table]:
    ok = report.integrity == ["ok"]
    integrity = Table(
        "SQLite integrity check",
        ["result"],
        [Row(["; ".join(report.integrity[:5]) or "-"], Level.OK if ok else Level.FAIL)],
        Level.OK if ok else Level.FAIL,
        text_columns=frozenset({0}),
    )
    streams = Table(
        "Sequence continuity (produced = held + evicted + retired)",
        ["stream", "class", "produced", "held", "evicted", "retired", "verdict"],
        level=overall(s.level for s in report.streams),
        text_columns=frozenset({6}),
    )
    for s in report.streams:
        verdict = "; ".join(s.problems) or "complete"
        streams.rows.append(
            Row(
                [
                    f"{s.device}/{s.stream}",
                    s.cls,
                    str(s.produced),
                    str(s.held),
                    str(s.evicted),
                    str(s.retired),
                    verdict,
                ],
                s.level,
            )
        )
    classes = Table(
        "Retired records against the log's counters",
        ["class", "accounted", "counter", "verdict"],
        level=overall(_lv(c["level"]) for c in report.classes),
        text_columns=frozenset({3}),
    )
    for c in report.classes:
        classes.rows.append(
            Row(
                [c["cls"], str(c["retired_accounted"]), str(c["retired_counter"]), c["detail"]],
                _lv(c["level"]),
            )
        )
    return [integrity, streams, classes]


def doctor_table(results: Sequence[CheckResult]) -> Table:
    t = Table(
        "floorline doctor",
        ["check", "detail", "remedy"],
        level=overall(r.level for r in results),
        text_columns=frozenset({1, 2}),
    )
    for r in results:
        t.rows.append(Row([r.name, r.detail, r.remedy or "-"], r.level))
    return t
