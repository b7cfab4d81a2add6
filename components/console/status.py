"""`floorline status` and the status page: gather facts (I/O), then build one report (pure).

The report is a JSON-able dict; the terminal, the HTML page and `/status.json` all render the
same dict, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.console.config import CONNECT_TIMEOUT_S, ConsoleSettings
from components.console.levels import Level, overall
from components.console.logview import (
    ConsumerProgress,
    consumer_progress,
    health_by_stream,
    open_log,
)
from components.console.system import nucleus_socket, timedatectl_synced, unix_reachable
from components.console.views import fmt_age, fmt_clock
from components.core import component_state as cs
from components.core.clock import BUILD_EPOCH_MS, Clock
from components.core.envelope import CLASSES, DRAIN_ORDER
from components.lib.gpio import status as ledmod

# Classes written straight from a sensor or reader (the others are derived or reports).
SOURCE_CLASSES = ("raw", "event")

# What each state a component records means to a technician (components/core/component_state).
_STATE_LEVEL = {
    cs.RUNNING: Level.OK,
    cs.DEGRADED: Level.WARN,
    cs.STARTING: Level.WARN,
    cs.STOPPING: Level.WARN,
    cs.STOPPED: Level.WARN,  # an expected component that is not running is not fine
    cs.ERRORED: Level.FAIL,
}
_STATE_WORDS = {
    cs.RUNNING: "running",
    cs.DEGRADED: "degraded",
    cs.STARTING: "starting",
    cs.STOPPING: "stopping",
    cs.STOPPED: "stopped",
    cs.ERRORED: "ended on an error",
}
# A component that came back from an unclean end (killed, crashed) this recently is a warning.
RECENT_UNCLEAN_END_S = 3600.0


@dataclass
class StatusFacts:
    """Everything `build_status` looks at, gathered in one go."""

    device: str
    now_wall_ms: int
    stats: Mapping[str, Any]
    consumers: Sequence[ConsumerProgress]
    health: Mapping[str, Sequence[Mapping[str, Any]]]  # payloads, oldest first
    health_wall_ms: Mapping[str, int]  # wall time of each health stream's latest record
    streams: Sequence[Mapping[str, Any]]
    board: cs.Board = field(default_factory=lambda: cs.Board([], [], "not read"))
    ntp_synced: bool | None = None  # timedatectl's answer, None when unavailable
    nucleus_problem: str | None = "not checked"  # None: reachable
    nucleus_socket: str = ""
    nucleus_found_as: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def gather(cfg: ConsoleSettings, clock: Clock, device: str) -> StatusFacts:
    """Read the log, the state file and the machine. Read-only (see logview)."""
    log = open_log(cfg, clock, device)
    try:
        stats = log.stats()
        streams = log.streams()
        health = health_by_stream(log)
    finally:
        log.close()
    sock, found_as = nucleus_socket(cfg.greengrassRoot, cfg.nucleusSocket)
    return StatusFacts(
        device=device,
        board=cs.read_board(cfg.logPath),
        nucleus_socket=sock,
        nucleus_found_as=found_as,
        now_wall_ms=clock.wall_ms(),
        stats=stats,
        consumers=consumer_progress(cfg.logPath),
        health={s: [r.payload for r in recs] for s, recs in health.items()},
        health_wall_ms={s: recs[-1].event_wall_ms for s, recs in health.items()},
        streams=streams,
        ntp_synced=timedatectl_synced(),
        nucleus_problem=unix_reachable(sock, CONNECT_TIMEOUT_S),
    )


# --------------------------------------------------------------------------- pure part
def _age_s(now_wall_ms: int, wall_ms: int | None) -> float | None:
    return None if wall_ms is None else round((now_wall_ms - wall_ms) / 1000, 1)


def component_rows(
    board: cs.Board, expected: Sequence[str], now_wall_ms: int, stale_s: float
) -> list[dict[str, Any]]:
    """One row per component: what it last recorded, checked against its process and its
    heartbeat; the expected components first, then any other that reported."""
    known = {c["name"]: c for c in board.components}
    return [
        _component_row(name, known.get(name), board.problem, now_wall_ms, stale_s)
        for name in [*expected, *sorted(set(known) - set(expected))]
    ]


def _component_row(
    name: str, c: Mapping[str, Any] | None, problem: str | None, now: int, stale_s: float
) -> dict[str, Any]:
    if c is None:
        # Every component records its state from its first moment: an expected one that
        # never did is not running here (not deployed, or failing before it could say so).
        return {
            "name": name,
            "state": "unknown",
            "since_wall_ms": None,
            "level": Level.WARN.name,
            "detail": (problem or "")
            + ("; " if problem else "")
            + "expected here, has never reported: not deployed, or failing at start?",
        }
    state, since = c["state"], c["since_wall_ms"]
    level = _STATE_LEVEL.get(state, Level.WARN)
    detail = c["reason"] or _STATE_WORDS.get(state, state.lower())
    silent_s = (now - c["updated_wall_ms"]) / 1000
    ended = state in (cs.STOPPED, cs.ERRORED)
    if not ended and c.get("alive") is False:
        # It said it was up and its process is gone without a last word: killed or crashed.
        state, since, level = "ENDED", c["updated_wall_ms"], Level.FAIL
        detail = (
            f"process {c['pid']} gone without stopping (killed or crashed); "
            f"it last said {c['state'].lower()}"
        )
    elif not ended and state != cs.STARTING and silent_s > stale_s:
        level = max(level, Level.WARN)
        detail += f"; no heartbeat for {fmt_age(silent_s)}"
    unclean = c.get("last_unclean_end_wall_ms")
    if (
        unclean is not None
        and state not in ("ENDED",)
        and (now - unclean) / 1000 < RECENT_UNCLEAN_END_S
    ):
        level = max(level, Level.WARN)
        detail += f"; restarted after its previous run ended uncleanly at {fmt_clock(unclean, now)}"
    return {
        "name": name,
        "state": state,
        "since_wall_ms": since,
        "since_age_s": _age_s(now, since),
        "level": level.name,
        "detail": detail,
        "pid": c.get("pid"),
        "restarts": c.get("restarts", 0),
    }


def clock_section(ntp_synced: bool | None, now_wall_ms: int) -> dict[str, Any]:
    if ntp_synced is True:
        return {
            "synced": True,
            "source": "timedatectl",
            "level": Level.OK.name,
            "detail": "NTP synchronised",
        }
    if ntp_synced is False:
        return {
            "synced": False,
            "source": "timedatectl",
            "level": Level.WARN.name,
            "detail": "not synchronised: new records carry clock_synced=false "
            "and are corrected once it syncs",
        }
    plausible = now_wall_ms >= BUILD_EPOCH_MS
    return {
        "synced": None,
        "source": "no timedatectl",
        "level": Level.UNKNOWN.name if plausible else Level.WARN.name,
        "detail": "wall clock plausible, sync not confirmed"
        if plausible
        else "wall clock reads before the build date: not synchronised",
    }


def build_status(facts: StatusFacts, cfg: ConsoleSettings) -> dict[str, Any]:
    """The whole status report from gathered facts (pure: no I/O, no clock)."""
    now = facts.now_wall_ms
    stats = facts.stats
    prefix = cfg.uplinkConsumerPrefix

    decision = ledmod.led_state(
        stats,
        led_health(facts),
        now_wall_ms=now,
        offline_after_s=cfg.offlineAfterSeconds,
        uplink_prefix=prefix,
    )
    led_level = {ledmod.FAULT: Level.FAIL, ledmod.OFFLINE_BUFFERING: Level.WARN}.get(
        decision.state, Level.OK
    )

    # Buffer: what is held per class, how full the log is.
    classes = [
        {
            "cls": cls,
            "records": stats["classes"][cls]["records"],
            "oldest_age_s": _age_s(now, stats["classes"][cls]["oldest_wall_ms"]),
        }
        for cls in DRAIN_ORDER
    ]
    used, budget = stats["used_bytes"], stats["budget_bytes"]
    used_pct = round(100 * used / budget, 1) if budget else None
    buffer_level = Level.OK
    if ledmod.log_out_of_room(stats):
        buffer_level = Level.FAIL
    elif used_pct is not None and used_pct >= 80:
        buffer_level = Level.WARN
    buffer = {
        "classes": classes,
        "used_bytes": used,
        "budget_bytes": budget,
        "used_pct": used_pct,
        "free_disk_bytes": stats.get("free_disk_bytes"),
        "free_floor_bytes": stats.get("free_floor_bytes"),
        "level": buffer_level.name,
    }

    # Uplink: backlog of the uplink consumers and when their offsets last moved.
    # Consumers on the device itself (analytics) are shown apart: their backlog is work to
    # do here, not data waiting for the network.
    consumers: list[dict[str, Any]] = []
    local: list[dict[str, Any]] = []
    backlog = stats.get("backlog") or {}
    for cp in facts.consumers:
        entry = backlog.get(cp.name, {}).get(cp.cls, {})
        (consumers if cp.name.startswith(prefix) else local).append(
            {
                "name": cp.name,
                "cls": cp.cls,
                "backlog": entry.get("records", 0),
                "oldest_unsent_age_s": _age_s(now, entry.get("oldest_wall_ms")),
                "last_ack_age_s": _age_s(now, cp.acked_wall_ms),
            }
        )
    uplinks = [c for c in facts.consumers if c.name.startswith(prefix)]
    acks = [c.acked_wall_ms for c in uplinks if c.acked_wall_ms is not None]
    oldest_unsent = ledmod.oldest_unsent_wall_ms(stats, prefix)
    unsent = sum(
        e.get("records", 0)
        for name, per in backlog.items()
        if name.startswith(prefix)
        for e in per.values()
    )
    unsent_age_s = _age_s(now, oldest_unsent)
    if not uplinks:
        uplink_level, uplink_detail = Level.UNKNOWN, f"no '{prefix}*' consumer registered"
    elif unsent_age_s is not None and unsent_age_s > cfg.offlineAfterSeconds:
        uplink_level, uplink_detail = Level.WARN, "offline: buffering to disk"
    else:
        # "Sent" is the hand-over the uplink acknowledges: the nucleus spooled it, or Stream
        # Manager stored it. Their own buffers absorb a short outage before the log sees it.
        uplink_level = Level.OK
        uplink_detail = "keeping up (handed over to the nucleus spool / Stream Manager)"
    uplink = {
        "backlog_records": unsent,
        "oldest_unsent_age_s": unsent_age_s,
        "last_uplink_age_s": _age_s(now, max(acks)) if acks else None,
        "consumers": consumers,
        "local_consumers": local,
        "level": uplink_level.name,
        "detail": uplink_detail,
    }

    # Drops: evictions by class and reason, refusals, quarantined input.
    drops = [
        {"what": f"evicted {cls}", "reason": reason, "records": n}
        for cls in CLASSES
        for reason, n in sorted((stats["evicted"].get(cls) or {}).items())
    ]
    counters = stats.get("counters") or {}
    for name, n in sorted(counters.items()):
        if name.startswith("rejected_full.") and n:
            drops.append(
                {"what": f"refused {name.split('.', 1)[1]}", "reason": "log full", "records": n}
            )
    if stats.get("quarantined"):
        drops.append(
            {
                "what": "quarantined input",
                "reason": "not a valid record",
                "records": stats["quarantined"],
            }
        )
    drops_level = Level.WARN if drops else Level.OK

    components = component_rows(facts.board, cfg.components, now, cfg.componentStaleSeconds)
    # Sources: every sensor and reader, from the state file (kept whatever was uploaded),
    # else from the health records still held in the log.
    sensors = sensor_rows(facts, now, cfg.componentStaleSeconds, components)
    sections: dict[str, Any] = {
        "led": {
            "state": decision.state,
            "meaning": decision.meaning,
            "reasons": list(decision.reasons),
            "level": led_level.name,
        },
        "components": components,
        "nucleus": {
            "reachable": facts.nucleus_problem is None,
            "socket": facts.nucleus_socket,
            "found_as": facts.nucleus_found_as,
            "detail": facts.nucleus_problem
            or f"IPC socket {facts.nucleus_socket} accepts connections ({facts.nucleus_found_as})",
            "level": (Level.OK if facts.nucleus_problem is None else Level.UNKNOWN).name,
        },
        "clock": clock_section(facts.ntp_synced, now),
        "buffer": buffer,
        "uplink": uplink,
        "drops": {"rows": drops, "level": drops_level.name},
        "sensors": sensors,
    }
    levels = [
        Level[s["level"]]
        for s in (
            sections["led"],
            sections["nucleus"],
            sections["clock"],
            buffer,
            uplink,
            sections["drops"],
        )
    ]
    levels += [Level[r["level"]] for r in components + sensors]
    return {
        "device": facts.device,
        "site": cfg.siteId,
        "now_wall_ms": now,
        "level": overall(levels).name,
        **sections,
    }


def led_health(facts: StatusFacts) -> dict[str, Sequence[Mapping[str, Any]]]:
    """Health per health stream for the LED: the log's records, overruled by the state file
    (which still knows a fault after its records were uploaded and retired)."""
    health: dict[str, Sequence[Mapping[str, Any]]] = dict(facts.health)
    for src in facts.board.sources:
        if src["state"] in ("ok", "faulty"):
            health[f"health/{src['source']}"] = [{"state": src["state"]}]
    return health


def sensor_rows(
    facts: StatusFacts, now: int, stale_s: float, components: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One row per sensor or reader (a source: `bme280@0x76`), with its data streams. A
    source whose component is not running is watched by nobody: what it last said is shown
    as such (WARN at least)."""
    down = {
        c["name"]: c["state"]
        for c in components
        if c["state"] not in (cs.RUNNING, cs.DEGRADED, "unknown")
    }
    streams: dict[str, list[Mapping[str, Any]]] = {}
    for st in facts.streams:
        if st["cls"] in SOURCE_CLASSES:
            streams.setdefault(cs.source_of(st["stream"]), []).append(st)
    board = {s["source"]: s for s in facts.board.sources}
    log_health = {cs.source_of(h): h for h in facts.health}
    rows = []
    for source in sorted(set(streams) | set(board) | set(log_health)):
        own = streams.get(source, [])
        name = own[0]["stream"] if len(own) == 1 else source
        row: dict[str, Any] = {
            "source": source,
            "stream": name,
            "streams": [s["stream"] for s in own],
            "produced": sum(s["produced"] for s in own) if own else None,
        }
        if source in board:
            row |= _board_sensor(board[source], own, now, stale_s)
            owner = board[source]["component"]
            if owner in down:
                row["level"] = max(Level[row["level"]], Level.WARN).name
                row["detail"] = (
                    f"not watched: {owner} is {down[owner]}; as it last said: {row['detail']}"
                )
        else:
            row |= _log_sensor(log_health.get(source), facts, now)
        rows.append(row)
    # The broken ones first: a technician reads from the top.
    return sorted(rows, key=lambda r: -Level[r["level"]])


def _board_sensor(
    b: Mapping[str, Any], own: Sequence[Mapping[str, Any]], now: int, stale_s: float
) -> dict[str, Any]:
    state, since = b["state"], b["since_wall_ms"]
    good_age = _age_s(now, b["last_good_wall_ms"])
    last_good = (
        "no good reading yet" if good_age is None else f"last good reading {fmt_age(good_age)} ago"
    )
    if state == "faulty":
        level = Level.FAIL
        detail = f"{b['last_error'] or 'faulty'}; {last_good}"
    elif state == "ok":
        level, detail = Level.OK, last_good
        # Readings are periodic; events (a tag at a reader) come when they come.
        periodic = any(s["cls"] == "raw" for s in own)
        if periodic and (good_age is None or good_age > stale_s):
            state, level = "stale", Level.WARN
            detail = f"reported ok, but {last_good}"
        elif b["last_error"] and b["last_error_wall_ms"]:
            detail += (
                f"; last fault at {fmt_clock(b['last_error_wall_ms'], now)}: {b['last_error']}"
            )
    else:
        level, detail = Level.UNKNOWN, f"no health decision yet; {last_good}"
    return {
        "state": state,
        "since_wall_ms": since,
        "since_age_s": _age_s(now, since),
        "level": level.name,
        "detail": detail,
        "last_error": b["last_error"],
        "last_good": b["last_good"],
        "last_good_age_s": good_age,
        "health_stream": f"health/{b['source']}",
    }


def _log_sensor(health_stream: str | None, facts: StatusFacts, now: int) -> dict[str, Any]:
    if health_stream is None:
        return {
            "state": "unknown",
            "since_wall_ms": None,
            "level": Level.UNKNOWN.name,
            "detail": "no health reported by its component",
            "health_stream": None,
        }
    state, payload = ledmod.health_state(facts.health[health_stream])
    level = {"faulty": Level.FAIL, "ok": Level.OK}.get(state, Level.UNKNOWN)
    payload = payload or {}
    bits = [str(payload.get("event", "")), str(payload.get("detail", ""))]
    wall = facts.health_wall_ms.get(health_stream)
    return {
        "state": state,
        "since_wall_ms": None,
        "level": level.name,
        "detail": " ".join(b for b in bits if b)
        + (f" (latest report {fmt_age(_age_s(now, wall))} ago)" if wall else ""),
        "health_stream": health_stream,
    }
