"""Injecting a fleet run's faults into the running devices, and undoing those with a duration."""

from __future__ import annotations

import functools
import logging
import os
import random
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_sim.fleet_faults import ScheduledFault
from edge_sim.fleet_site import short_name

log = logging.getLogger("edge_sim.fleet")


class FaultInjector:
    """Applies faults to the fleet's devices (`devices` and `readers` by thing, filled as they
    start), counting the components it kills and keeping what happened, for the reckoning."""

    def __init__(
        self,
        out: Path,
        things: Sequence[str],
        devices: Mapping[str, Any],
        readers: Mapping[str, list[Any]],
        broker: Any,
        kinesis_sink: Any,
        rng: random.Random,
    ) -> None:
        self._out = out
        self._things = tuple(things)
        self._devices = devices
        self._readers = readers
        self._broker = broker
        self._kinesis_sink = kinesis_sink
        self._rng = rng
        self.kills = 0
        self.happened: list[dict[str, Any]] = []  # each fault as applied

    def _fill_disk(self, thing: str, leave_free: int) -> Callable[[], None]:
        hog = self._out / "devices" / thing / "data" / "hog.bin"
        st = os.statvfs(hog.parent)
        size = max(0, st.f_bavail * st.f_frsize - leave_free)
        with open(hog, "wb") as f:
            f.write(b"\0" * size)
        return lambda: hog.unlink(missing_ok=True)

    def apply(self, fault: ScheduledFault) -> list[Callable[[], None]]:
        """Start a fault; returns what ends it (for faults with a duration)."""
        targets = fault.devices or self._things
        log.info(
            "event=fault kind=%s devices=%s duration_s=%.0f", fault.kind, targets, fault.duration_s
        )
        applied: dict[str, Any] = {
            "kind": fault.kind,
            "at_s": round(fault.at_s, 1),
            "devices": list(targets),
        }
        if fault.duration_s:
            applied["duration_s"] = round(fault.duration_s, 1)
        if fault.kind in ("disk_pressure", "noisy_serial"):
            applied["magnitude"] = fault.magnitude
        self.happened.append(applied)
        if fault.kind == "outage":
            links = [self._broker.link(t) for t in targets]
            for link in links:
                link.cut()
            return [link.restore for link in links]
        if fault.kind == "kinesis_outage":
            self._kinesis_sink.available = False
            return [lambda: setattr(self._kinesis_sink, "available", True)]
        if fault.kind == "disk_pressure":
            return [self._fill_disk(t, int(fault.magnitude)) for t in targets]
        if fault.kind == "unplug":
            applied["chip"] = fault.chip
            return []  # the world unplugs it on time (in the sensors process)
        if fault.kind == "log_damage":
            for t in targets:
                for component in self._devices[t].components.values():
                    component.kill()
                    self.kills += 1
                _damage_streams_index(self._out / "devices" / t / "data" / "log.sqlite")
            return []
        if fault.kind == "noisy_serial":
            readers = [r for t in targets for r in self._readers.get(t, [])]
            for r in readers:
                r.set_noise(fault.magnitude)
            return [functools.partial(r.set_noise, 0.0) for r in readers]
        killed = []
        for thing in targets:
            dev = self._devices[thing]
            name = fault.component or self._rng.choice(sorted(dev.components))
            if name in dev.components:
                dev.components[name].kill()
                self.kills += 1
                killed.append(f"{thing}/{short_name(name)}")
        applied["killed"] = killed
        return []


def _damage_streams_index(path: Path) -> None:
    """Garbage over the streams table's unique index page (in the database file, after a
    checkpoint so the WAL holds no newer copy; no process has the file open): `quick_check`
    fails, and every record, counter and offset is still readable by a salvage."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name='sqlite_autoindex_streams_1'"
        ).fetchone()
    finally:
        conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(random.Random(root).randbytes(page_size))
        f.flush()
        os.fsync(f.fileno())
