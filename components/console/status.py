"""`floorline status` and the status page: gather facts (I/O), then build one report (pure).

The report is a JSON-able dict; the terminal, the HTML page and `/status.json` all render the
same dict, so they cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.console.config import CONNECT_TIMEOUT_S
from components.console.levels import Level, overall
from components.console.logview import (
    ConsumerProgress,
    consumer_progress,
    health_by_stream,
    open_log,
)
from components.console.system import (
    greengrass_cli_list,
    nucleus_socket,
    parse_component_list,
    timedatectl_synced,
    unix_reachable,
)
from components.console.views import fmt_age
from components.core.clock import BUILD_EPOCH_MS, Clock
from components.core.config import Config
from components.core.envelope import CLASSES, DRAIN_ORDER
from components.gpio import status as ledmod

# Classes written straight from a sensor or reader (the others are derived or reports).
SOURCE_CLASSES = ("raw", "event")

# Greengrass lifecycle states (what the nucleus reports for a component).
_STATE_LEVEL = {
    "RUNNING": Level.OK,
    "FINISHED": Level.OK,
    "NEW": Level.WARN,
    "INSTALLED": Level.WARN,
    "STARTING": Level.WARN,
    "STOPPING": Level.WARN,
    "ERRORED": Level.FAIL,
    "BROKEN": Level.FAIL,
}


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
    states_text: str | None = None  # the component state file, None if absent
    states_error: str | None = None
    ntp_synced: bool | None = None  # timedatectl's answer, None when unavailable
    nucleus_problem: str | None = "not checked"  # None: reachable
    cli_states: Mapping[str, str] | None = None  # from greengrass-cli, None when unavailable
    cli_problem: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def gather(cfg: Config, clock: Clock, device: str) -> StatusFacts:
    """Read the log, the state file and the machine. Read-only (see logview)."""
    log = open_log(cfg, clock, device)
    try:
        stats = log.stats()
        streams = log.streams()
        health = health_by_stream(log)
    finally:
        log.close()
    states_text, states_error = None, None
    if Path(cfg.stateFile).exists():  # absent: nothing reports states (shown as unknown)
        try:
            states_text = Path(cfg.stateFile).read_text()
        except OSError as exc:
            states_error = f"cannot read {cfg.stateFile}: {exc}"
    cli_text, cli_problem = greengrass_cli_list(cfg.greengrassRoot)
    return StatusFacts(
        device=device,
        cli_states=parse_component_list(cli_text) if cli_text is not None else None,
        cli_problem=cli_problem,
        now_wall_ms=clock.wall_ms(),
        stats=stats,
        consumers=consumer_progress(cfg.logPath),
        health={s: [r.payload for r in recs] for s, recs in health.items()},
        health_wall_ms={s: recs[-1].event_wall_ms for s, recs in health.items()},
        streams=streams,
        states_text=states_text,
        states_error=states_error,
        ntp_synced=timedatectl_synced(),
        nucleus_problem=unix_reachable(
            nucleus_socket(cfg.greengrassRoot), CONNECT_TIMEOUT_S
        ),
    )


# --------------------------------------------------------------------------- pure part
def _age_s(now_wall_ms: int, wall_ms: int | None) -> float | None:
    return None if wall_ms is None else round((now_wall_ms - wall_ms) / 1000, 1)


def _cli_state(cli_states: Mapping[str, str], name: str) -> str | None:
    for full, state in cli_states.items():
        if full == name or full.endswith("." + name):  # com.floorline.Sensors for Sensors
            return state
    return None


def component_rows(
    states_text: str | None,
    states_error: str | None,
    expected: Sequence[str],
    now_wall_ms: int,
    stale_s: float,
    cli_states: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per component. The nucleus's own answer (greengrass-cli) when available, else
    the state file, else unknown: expected components first, then any other reported."""
    if cli_states is not None:
        rows = []
        for name in expected:
            state = _cli_state(cli_states, name)
            if state is None:
                rows.append({"name": name, "state": "not installed", "level": Level.WARN.name,
                             "detail": "expected here, absent from greengrass-cli"})
            else:
                rows.append({"name": name, "state": state,
                             "level": _STATE_LEVEL.get(state, Level.WARN).name,
                             "detail": "greengrass-cli component list"})
        return rows
    known: dict[str, Any] = {}
    problem = states_error
    if states_text is not None:
        try:
            doc = json.loads(states_text)
            known = doc.get("components", doc) if isinstance(doc, dict) else {}
            if not isinstance(known, dict):
                known, problem = {}, "state file is not an object of components"
        except ValueError as exc:
            problem = f"state file is not JSON: {exc}"
    rows = []
    for name in [*expected, *sorted(set(known) - set(expected))]:
        entry = known.get(name)
        state, level, detail = "unknown", Level.UNKNOWN, problem or "no state reported"
        if isinstance(entry, dict) and isinstance(entry.get("state"), str):
            updated = entry.get("updated_wall_ms")
            age = _age_s(now_wall_ms, updated) if isinstance(updated, int) else None
            if age is None or age > stale_s:
                detail = (
                    f"last said {entry['state']} {age:.0f} s ago (stale)"
                    if age is not None else f"said {entry['state']} at an unknown time"
                )
            else:
                state = entry["state"].upper()
                level = _STATE_LEVEL.get(state, Level.WARN)
                detail = f"reported {age:.0f} s ago"
        rows.append({"name": name, "state": state, "level": level.name, "detail": detail})
    return rows


def clock_section(ntp_synced: bool | None, now_wall_ms: int) -> dict[str, Any]:
    if ntp_synced is True:
        return {"synced": True, "source": "timedatectl", "level": Level.OK.name,
                "detail": "NTP synchronised"}
    if ntp_synced is False:
        return {"synced": False, "source": "timedatectl", "level": Level.WARN.name,
                "detail": "not synchronised: new records carry clock_synced=false "
                          "and are corrected once it syncs"}
    plausible = now_wall_ms >= BUILD_EPOCH_MS
    return {"synced": None, "source": "no timedatectl",
            "level": Level.UNKNOWN.name if plausible else Level.WARN.name,
            "detail": "wall clock plausible, sync not confirmed" if plausible
            else "wall clock reads before the build date: not synchronised"}


def build_status(facts: StatusFacts, cfg: Config) -> dict[str, Any]:
    """The whole status report from gathered facts (pure: no I/O, no clock)."""
    now = facts.now_wall_ms
    stats = facts.stats
    prefix = cfg.uplinkConsumerPrefix

    decision = ledmod.led_state(stats, facts.health, now_wall_ms=now,
                                offline_after_s=cfg.offlineAfterSeconds, uplink_prefix=prefix)
    led_level = {ledmod.FAULT: Level.FAIL, ledmod.OFFLINE_BUFFERING: Level.WARN}.get(
        decision.state, Level.OK)

    # Buffer: what is held per class, how full the log is.
    classes = [
        {"cls": cls, "records": stats["classes"][cls]["records"],
         "oldest_age_s": _age_s(now, stats["classes"][cls]["oldest_wall_ms"])}
        for cls in DRAIN_ORDER
    ]
    used, budget = stats["used_bytes"], stats["budget_bytes"]
    used_pct = round(100 * used / budget, 1) if budget else None
    buffer_level = Level.OK
    if ledmod.log_out_of_room(stats):
        buffer_level = Level.FAIL
    elif used_pct is not None and used_pct >= 80:
        buffer_level = Level.WARN
    buffer = {"classes": classes, "used_bytes": used, "budget_bytes": budget,
              "used_pct": used_pct, "free_disk_bytes": stats.get("free_disk_bytes"),
              "free_floor_bytes": stats.get("free_floor_bytes"), "level": buffer_level.name}

    # Uplink: backlog of the uplink consumers and when their offsets last moved.
    consumers = []
    backlog = stats.get("backlog") or {}
    for cp in facts.consumers:
        entry = backlog.get(cp.name, {}).get(cp.cls, {})
        consumers.append({"name": cp.name, "cls": cp.cls, "backlog": entry.get("records", 0),
                          "oldest_unsent_age_s": _age_s(now, entry.get("oldest_wall_ms")),
                          "last_ack_age_s": _age_s(now, cp.acked_wall_ms)})
    uplinks = [c for c in facts.consumers if c.name.startswith(prefix)]
    acks = [c.acked_wall_ms for c in uplinks if c.acked_wall_ms is not None]
    oldest_unsent = ledmod.oldest_unsent_wall_ms(stats, prefix)
    unsent = sum(e.get("records", 0) for name, per in backlog.items() if name.startswith(prefix)
                 for e in per.values())
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
    uplink = {"backlog_records": unsent, "oldest_unsent_age_s": unsent_age_s,
              "last_uplink_age_s": _age_s(now, max(acks)) if acks else None,
              "consumers": consumers, "level": uplink_level.name, "detail": uplink_detail}

    # Drops: evictions by class and reason, refusals, quarantined input.
    drops = [{"what": f"evicted {cls}", "reason": reason, "records": n}
             for cls in CLASSES for reason, n in sorted((stats["evicted"].get(cls) or {}).items())]
    counters = stats.get("counters") or {}
    for name, n in sorted(counters.items()):
        if name.startswith("rejected_full.") and n:
            drops.append({"what": f"refused {name.split('.', 1)[1]}", "reason": "log full",
                          "records": n})
    if stats.get("quarantined"):
        drops.append({"what": "quarantined input", "reason": "not a valid record",
                      "records": stats["quarantined"]})
    drops_level = Level.WARN if drops else Level.OK

    # Sources: every data stream, with the health of the same source if reported.
    sensors = []
    health_states = {s: ledmod.health_state(p) for s, p in facts.health.items()}
    by_source = {s.split("/", 1)[1]: s for s in health_states}
    for st in facts.streams:
        if st["cls"] not in SOURCE_CLASSES:
            continue  # aggregates and alerts are derived on the device, not read from a source
        source = st["stream"].split("/", 1)[1]
        hs = by_source.pop(source, None)
        sensors.append(_sensor_row(st["stream"], st["produced"], hs, health_states, facts, now))
    for _source, hs in sorted(by_source.items()):
        sensors.append(_sensor_row(None, None, hs, health_states, facts, now))

    components = component_rows(facts.states_text, facts.states_error, cfg.components, now,
                                cfg.componentStaleSeconds, facts.cli_states)
    sections: dict[str, Any] = {
        "led": {"state": decision.state, "meaning": decision.meaning,
                "reasons": list(decision.reasons), "level": led_level.name},
        "components": components,
        "nucleus": {"reachable": facts.nucleus_problem is None,
                    "detail": facts.nucleus_problem or "IPC socket accepts connections",
                    "level": (Level.OK if facts.nucleus_problem is None else Level.UNKNOWN).name},
        "clock": clock_section(facts.ntp_synced, now),
        "buffer": buffer,
        "uplink": uplink,
        "drops": {"rows": drops, "level": drops_level.name},
        "sensors": sensors,
    }
    levels = [Level[s["level"]] for s in (sections["led"], sections["nucleus"],
                                          sections["clock"], buffer, uplink, sections["drops"])]
    levels += [Level[r["level"]] for r in components + sensors]
    return {"device": facts.device, "site": cfg.siteId, "now_wall_ms": now,
            "level": overall(levels).name,
            **sections}


def _sensor_row(stream: str | None, produced: int | None, health_stream: str | None,
                health_states: Mapping[str, tuple[str, Mapping[str, Any] | None]],
                facts: StatusFacts, now: int) -> dict[str, Any]:
    if health_stream is None:
        state, level, detail = "no report", Level.UNKNOWN, "no health record held in the log"
    else:
        state, payload = health_states[health_stream]
        level = {"faulty": Level.FAIL, "ok": Level.OK}.get(state, Level.UNKNOWN)
        payload = payload or {}
        bits = [str(payload.get("event", "")), str(payload.get("detail", ""))]
        age = _age_s(now, facts.health_wall_ms.get(health_stream))
        detail = " ".join(b for b in bits if b) + (f" (latest report {fmt_age(age)} ago)"
                                                   if age is not None else "")
    return {"stream": stream or health_stream, "health_stream": health_stream,
            "produced": produced, "state": state, "level": level.name, "detail": detail}
