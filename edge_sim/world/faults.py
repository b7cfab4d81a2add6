"""Faults a scenario can switch on over a time window: they act on a signal or on a chip."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Faults that change the value a chip measures.
SIGNAL_FAULTS = ("spike", "drift", "stuck", "dropout", "noisy")
# Faults that change whether/how a chip answers on the bus.
CHIP_FAULTS = ("unplugged", "noisy_line")
KINDS = SIGNAL_FAULTS + CHIP_FAULTS


@dataclass(frozen=True, slots=True)
class Fault:
    """`kind` acts from `start_s` until `end_s` (open-ended when None).

    magnitude: spike — added value; drift — added units per hour since start; noisy — extra
    standard deviation; noisy_line — probability per transaction of a NACK or a flipped bit.
    `signal` limits a signal fault to one signal name (all signals when None).
    """

    kind: str
    start_s: float
    end_s: float | None = None
    magnitude: float = 0.0
    signal: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {KINDS}")

    def active(self, t_s: float) -> bool:
        return t_s >= self.start_s and (self.end_s is None or t_s < self.end_s)

    def applies_to(self, name: str) -> bool:
        return self.signal is None or self.signal == name

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Fault:
        end = d.get("endSeconds", d.get("end_s"))
        return Fault(
            kind=d["kind"],
            start_s=float(d.get("startSeconds", d.get("start_s", 0.0))),
            end_s=None if end is None else float(end),
            magnitude=float(d.get("magnitude", 0.0)),
            signal=d.get("signal"),
        )


DROPPED = math.nan  # what a signal reads during a dropout
