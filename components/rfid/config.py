"""The `rfid` component's configuration (recipes/Rfid.yaml's DefaultConfiguration is checked
against this Spec); the reader models it knows are components/lib/frames/models.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from components.core.config import Spec, setting
from components.core.log.config import LogSettings
from components.lib.frames.models import MODELS, VARIANTS

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def port_label(port: str) -> str:
    """'/dev/ttyS0' -> 'ttyS0', '/dev/pts/3' -> 'pts3', 'socket://h:7000' -> 'h:7000'."""
    label = port.split("://", 1)[-1]
    label = label.removeprefix("/dev/").replace("/", "")
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", label) or "port"


@dataclass(frozen=True)
class Reader:
    """One `readers` entry, parsed: the defaults filled in."""

    model: str
    port: str
    baud_rate: int
    name: str  # part of the stream name; the port's file name unless configured
    variant: str

    @property
    def stream(self) -> str:
        return f"rfid/{self.model}@{self.name}"


def _reader(i: int, entry: Any) -> Reader:
    if not isinstance(entry, dict) or entry.get("model") not in MODELS:
        raise ValueError(f"entry {i}: needs 'model' out of {list(MODELS)}")
    port = entry.get("port")
    if not isinstance(port, str) or not port:
        raise ValueError(f"entry {i}: needs 'port' (a device path or a pyserial URL)")
    variant = entry.get("variant", "m100")
    if variant not in VARIANTS:
        raise ValueError(f"entry {i}: variant must be one of {list(VARIANTS)}")
    baud = entry.get("baudRate", MODELS[entry["model"]][1])
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"entry {i}: baudRate must be a positive integer")
    name = str(entry.get("name") or port_label(port))
    if not _NAME_RE.match(name):
        raise ValueError(f"entry {i}: name {name!r} cannot be part of a stream")
    return Reader(entry["model"], port, baud, name, variant)


def _parse_readers(value: list[Any]) -> tuple[Reader, ...]:
    """Each entry: {"model", "port", "baudRate"?, "name"?, "variant"?}, as a Reader."""
    readers = tuple(_reader(i, entry) for i, entry in enumerate(value))
    streams = set()
    for i, reader in enumerate(readers):
        if reader.stream in streams:
            raise ValueError(f"entry {i}: {reader.stream} configured twice")
        streams.add(reader.stream)
    return readers


@dataclass(frozen=True)
class RfidSettings(LogSettings):
    """The rfid component's settings: one field per configuration key."""

    readers: tuple[Reader, ...] = setting(
        [{"model": "rdm6300", "port": "/dev/serial0", "baudRate": 9600}],
        "the serial RFID readers: {model (rdm6300, id12la, id20la, uhf_m100), port, baudRate?, "
        "name? (default: the port's file name), variant? (m100, r200)}",
        check=_parse_readers,
        raw=list,
    )
    departAfterSeconds: float = setting(
        3.0, "silence after which a tag has departed", min=0.05, max=3600
    )
    pollIntervalSeconds: float = setting(
        0.2, "UHF readers: time between inventory polls", min=0.02, max=60
    )
    healthIntervalSeconds: float = setting(
        60.0, "how often changed reader counters are logged", min=0.1, max=86400
    )
    publishLive: bool = setting(True, "publish presence on local pub/sub (best effort)")
    arriveAfterReads: int = setting(
        1, "frames needed before a tag counts as arrived", min=1, max=100
    )
    reopenIntervalSeconds: float = setting(
        5.0, "retry interval for a port that failed", min=0.1, max=3600
    )


SPEC = Spec(RfidSettings)
