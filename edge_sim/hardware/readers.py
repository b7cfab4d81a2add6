"""Start the RFID readers a scenario describes, each on its own pty, playing its tag passes.

    {"seed": 7, "readers": [{"protocol": "rdm6300", "name": "dock1", "tagsPerHour": 120,
                             "dwellSeconds": 3, "noiseBytesPerFrame": 0.5}]}

Tags keep coming for as long as the reader runs, unless "horizonSeconds" ends them.

The returned readers' `.path` go into the rfid component's `readers[].port`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from typing import Any

from components.lib.frames import uhf_m100
from edge_sim.hardware.rfid import PtyReader
from edge_sim.world.tags import TagPass, iter_tag_passes


def _before(horizon_s: float, tag_pass: TagPass) -> bool:
    return tag_pass.start_s < horizon_s


def start_readers(scenario: Mapping[str, Any]) -> dict[str, PtyReader]:
    seed = int(scenario.get("seed", 0))
    readers: dict[str, PtyReader] = {}
    try:
        for i, entry in enumerate(scenario.get("readers", [])):
            protocol = entry["protocol"]
            name = entry.get("name", f"{protocol}{i}")
            variant = uhf_m100.R200 if entry.get("variant") == "r200" else uhf_m100.M100
            reader = PtyReader(
                protocol,
                repeat_s=float(entry.get("repeatSeconds", 0.1)),
                seed=seed + i,
                variant=variant,
            )
            reader.set_noise(float(entry.get("noiseBytesPerFrame", 0.0)))
            passes = iter_tag_passes(
                seed,
                per_hour=float(entry.get("tagsPerHour", 60.0)),
                dwell_s=float(entry.get("dwellSeconds", 3.0)),
                population=int(entry.get("population", 20)),
                uhf=protocol == "uhf_m100",
                key=name,
            )
            if "horizonSeconds" in entry:  # tags stop coming then; by default they never do
                horizon_s = float(entry["horizonSeconds"])
                passes = itertools.takewhile(functools.partial(_before, horizon_s), passes)
            reader.play(passes)
            readers[name] = reader.start()
    except BaseException:
        for reader in readers.values():
            reader.stop()
        raise
    return readers
