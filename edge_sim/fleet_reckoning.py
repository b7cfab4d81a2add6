"""The reckoning of a fleet run, from sequence numbers alone: every record a device produced
is in the lake, evicted by policy, or still buffered in its log; nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud.lake.query import query
from components.core.log import Log


@dataclass
class FleetResult:
    devices: int
    duration_s: float
    produced: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    evicted: Counter[str] = field(default_factory=Counter)
    buffered: Counter[str] = field(default_factory=Counter)
    duplicates_received: int = 0  # redeliveries the lake dropped by identity
    duplicates_in_lake: int = 0  # must stay 0: exactly once in the lake
    rejected: dict[str, int] = field(default_factory=dict)
    alerts_raised: int = 0
    alerts_cleared: int = 0
    kills: int = 0
    restarts: int = 0
    broken: list[str] = field(default_factory=list)
    unaccounted: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)  # what happened, when, where
    salvages: int = 0  # log files found damaged at start-up and salvaged

    def as_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.__dict__.items()}


def reckon(lake: Any, logs: Mapping[str, Path], duration_s: float) -> FleetResult:
    """The records of each device's log (`logs`: path by thing) against what `lake` holds:
    produced = in the lake + evicted by policy + still buffered; nothing twice. (What the
    run did to the devices, kills and restarts, is the runner's to add.)"""
    _, rows = query(
        lake,
        "SELECT device, stream, seq, count(*) FROM telemetry GROUP BY device, stream, seq",
    )
    in_lake = {(dev, stream, seq) for dev, stream, seq, _n in rows}
    res = FleetResult(len(logs), duration_s)
    res.duplicates_in_lake = sum(n - 1 for *_k, n in rows)
    for thing, path in logs.items():
        if not path.exists():
            continue
        with Log.open(path, device=thing, free_floor_bytes=0) as lg:
            res.salvages += lg.stats()["counters"].get("salvage_events", 0)
            evicted: dict[tuple[str, str], set[int]] = {}
            for e in lg.evictions():
                evicted.setdefault((e["device"], e["stream"]), set()).update(
                    range(e["first_seq"], e["last_seq"] + 1)
                )
            held = {(r.device, r.stream, r.seq) for r in lg.snapshot_records()}
            # Numbers a salvage skipped were never used, or used by records it could not
            # read: produced only if the lake has them.
            skipped: dict[tuple[str, str], set[int]] = {}
            for k in lg.seq_skips():
                skipped.setdefault((k["device"], k["stream"]), set()).update(
                    range(k["first_seq"], k["last_seq"] + 1)
                )
            for s in lg.streams():
                key = (s["device"], s["stream"])
                for seq in range(1, s["produced"] + 1):
                    ident = (*key, seq)
                    if seq in skipped.get(key, ()) and ident not in in_lake:
                        continue
                    res.produced[s["cls"]] += 1
                    if ident in in_lake:
                        res.delivered[s["cls"]] += 1
                    elif seq in evicted.get(key, ()):
                        res.evicted[s["cls"]] += 1
                    elif ident in held:
                        res.buffered[s["cls"]] += 1
                    else:
                        res.unaccounted += 1
    stats = lake.stats()
    res.duplicates_received = stats.get("duplicates_dropped", 0)
    res.rejected = {"quarantined_batches": stats.get("quarantined_batches", 0)}
    _, alerts = query(lake, "SELECT payload FROM telemetry WHERE cls = 'alert'")
    for (payload,) in alerts:
        state = str(json.loads(payload).get("state", ""))
        if state in ("raise", "raised", "open"):
            res.alerts_raised += 1
        elif state in ("clear", "cleared", "closed"):
            res.alerts_cleared += 1
    return res
