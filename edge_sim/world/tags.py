"""Tags passing a reader: a deterministic schedule of presentations from a seed."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

from edge_sim.world import noise


@dataclass(frozen=True, slots=True)
class TagPass:
    tag_id: str
    start_s: float
    duration_s: float
    rssi_dbm: int = -55

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.start_s + self.duration_s


def tag_id_for(seed: int, index: int, uhf: bool) -> str:
    """A plausible id: 5 bytes for EM4100 cards, a 96-bit EPC (E280 prefix) for UHF tags."""
    n = 10 if uhf else 5
    raw = bytes(int(noise.uniform(seed, "tag-id", index * 16 + i) * 256) for i in range(n))
    return ("E280" + raw.hex() if uhf else raw.hex()).upper()


def tag_passes(
    seed: int,
    horizon_s: float,
    *,
    per_hour: float = 60.0,
    dwell_s: float = 3.0,
    population: int = 20,
    uhf: bool = False,
    key: str = "reader",
) -> list[TagPass]:
    """The passes starting before `horizon_s` (see `iter_tag_passes`)."""
    passes = iter_tag_passes(seed, per_hour=per_hour, dwell_s=dwell_s, population=population,
                             uhf=uhf, key=key)  # fmt: skip
    return list(itertools.takewhile(lambda p: p.start_s < horizon_s, passes))


def iter_tag_passes(
    seed: int,
    *,
    per_hour: float = 60.0,
    dwell_s: float = 3.0,
    population: int = 20,
    uhf: bool = False,
    key: str = "reader",
) -> Iterator[TagPass]:
    """Poisson arrivals of tags drawn from a fixed population, each staying an exponential
    time around `dwell_s` (at least 0.3 s), in order of arrival, without end. Passes may
    overlap (two pallets at a gate)."""
    t, i = 0.0, 0
    rate_per_s = per_hour / 3600.0
    while True:
        t += -math.log(1.0 - noise.uniform(seed, key + "/gap", i)) / rate_per_s
        who = int(noise.uniform(seed, key + "/who", i) * population)
        stay = max(0.3, -math.log(1.0 - noise.uniform(seed, key + "/stay", i)) * dwell_s)
        rssi = -40 - int(noise.uniform(seed, key + "/rssi", i) * 30)
        yield TagPass(tag_id_for(seed, who, uhf), t, stay, rssi)
        i += 1
