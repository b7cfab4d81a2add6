"""`sensors scan`, `sensors watch` and `rfid test`: the technician's look at the buses, through
the same drivers and frame decoders the components use (components/sensors, components/rfid)
and the same bus selection (components/core/buses.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from components.lib.drivers.base import Driver, I2CBus, SensorError
from components.lib.drivers.registry import DRIVERS, Chip, make_driver
from components.lib.drivers.scan import SCAN_RANGE, scan
from components.lib.frames.base import TagRead
from components.lib.frames.id12 import Id12Decoder
from components.lib.frames.models import MODELS, VARIANTS
from components.lib.frames.rdm6300 import Rdm6300Decoder
from components.lib.frames.uhf_m100 import UhfM100Decoder, single_poll_command

Sleep = Callable[[float], None]


@dataclass
class ChipRow:
    address: int
    chip: str
    detail: str
    stream: str | None = None
    reading: dict[str, Any] | None = None
    error: str | None = None
    driver: Driver | None = field(default=None, repr=False)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def scan_and_read(
    bus: I2CBus, sleep: Sleep, addresses: range | list[int] = SCAN_RANGE, *, read: bool = True
) -> list[ChipRow]:
    """Sweep the bus, identify each chip, initialise the known ones and read them once
    (`read=False`: identify only; no chip setting is changed)."""
    rows = []
    for found in scan(bus, addresses):
        row = ChipRow(found.address, found.chip, found.detail)
        if found.chip in DRIVERS:
            driver = make_driver(Chip.default(found.chip, found.address), bus, sleep)
            row.stream, row.driver = driver.stream, driver
            if not read:
                rows.append(row)
                continue
            try:
                driver.init()
                row.reading = dict(driver.read())
            except (OSError, SensorError) as exc:  # the chip answered the probe, not the driver
                row.error = _describe(exc)
        rows.append(row)
    return rows


def read_all(rows: list[ChipRow]) -> Iterator[ChipRow]:
    """One more reading of every chip that has a driver (for `sensors watch`)."""
    for row in rows:
        if row.driver is None:
            continue
        try:
            if row.error is not None:  # it failed before: start it again (hot-plug)
                row.driver.init()
            row.reading, row.error = dict(row.driver.read()), None
        except (OSError, SensorError) as exc:
            row.reading, row.error = None, _describe(exc)
        yield row


# --------------------------------------------------------------------------- RFID
@dataclass
class FrameEvent:
    """A decoded tag, or bytes the decoder rejected (by reason)."""

    tag: TagRead | None = None
    reject: str | None = None
    count: int = 0


class ReaderProbe:
    """Feeds serial bytes to the model's decoder and reports tags and rejects as they come."""

    def __init__(self, model: str, variant: str = "m100") -> None:
        if model not in MODELS:
            raise ValueError(f"model {model!r} is not one of {sorted(MODELS)}")
        protocol = MODELS[model][0]
        self.protocol = protocol
        self.variant = VARIANTS[variant]
        if protocol == "rdm6300":
            self.decoder: Any = Rdm6300Decoder()
        elif protocol == "id12":
            self.decoder = Id12Decoder()
        else:
            self.decoder = UhfM100Decoder(self.variant)
        self._seen: dict[str, int] = {}

    @property
    def needs_polling(self) -> bool:
        return self.protocol == "uhf_m100"

    def poll_command(self) -> bytes:
        return single_poll_command(self.variant)

    def feed(self, data: bytes) -> list[FrameEvent]:
        events = [FrameEvent(tag=t) for t in self.decoder.feed(data)]
        for reason, n in self.decoder.stats.rejects.items():
            new = n - self._seen.get(reason, 0)
            if new:
                events.append(FrameEvent(reject=reason, count=new))
                self._seen[reason] = n
        return events

    @property
    def frames(self) -> int:
        return int(self.decoder.stats.frames)

    @property
    def rejects(self) -> int:
        return sum(self.decoder.stats.rejects.values())
