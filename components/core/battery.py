"""A lithium-ion cell's resting voltage against its state of charge: one table, used to
simulate a battery-powered node (edge_sim's world) and to estimate a pack's charge from the
bus voltage an INA219 measures (the fleet dashboard), so the two cannot disagree.

The curve is a typical NMC/LCO 18650 open-circuit curve at room temperature (manufacturers'
discharge curves at low rate agree within about 0.05 V); under load a cell reads lower, so an
estimate from a loaded bus voltage errs low, on the side of replacing early.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Final

# (state of charge %, volts per cell), ascending.
OCV_CURVE: Final = (
    (0.0, 3.00), (5.0, 3.45), (10.0, 3.60), (20.0, 3.70), (30.0, 3.75), (40.0, 3.79),
    (50.0, 3.84), (60.0, 3.89), (70.0, 3.95), (80.0, 4.03), (90.0, 4.10), (100.0, 4.20),
)  # fmt: skip


def volts(pct: float, cells: int = 1) -> float:
    """Resting voltage of a pack of `cells` in series at `pct` % charge (clamped 0–100)."""
    pct = min(100.0, max(0.0, pct))
    i = max(1, bisect_left([p for p, _ in OCV_CURVE], pct))
    (p0, v0), (p1, v1) = OCV_CURVE[i - 1], OCV_CURVE[i]
    return cells * (v0 + (v1 - v0) * (pct - p0) / (p1 - p0))


def charge_pct(pack_volts: float, cells: int = 1) -> float:
    """Estimated charge (0–100 %) of a pack of `cells` in series from its voltage."""
    v = pack_volts / cells
    if v <= OCV_CURVE[0][1]:
        return 0.0
    if v >= OCV_CURVE[-1][1]:
        return 100.0
    i = bisect_left([u for _, u in OCV_CURVE], v)
    (p0, v0), (p1, v1) = OCV_CURVE[i - 1], OCV_CURVE[i]
    return p0 + (p1 - p0) * (v - v0) / (v1 - v0)
