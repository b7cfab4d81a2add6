"""The `rfid` component's configuration (recipes/Rfid.yaml's DefaultConfiguration is checked
against this Spec) and the reader models it knows."""

from __future__ import annotations

import re
from typing import Any

from components.core.config import Key, Spec
from components.core.log_config import LOG_KEYS
from components.rfid.frames import id12, rdm6300, uhf_m100

# model -> (frame protocol, default baud rate). ID-2LA/12LA/20LA share one frame format.
MODELS = {
    "rdm6300": ("rdm6300", rdm6300.BAUD),
    "id12la": ("id12", id12.BAUD),
    "id20la": ("id12", id12.BAUD),
    "uhf_m100": ("uhf_m100", uhf_m100.BAUD),
}
VARIANTS = {"m100": uhf_m100.M100, "r200": uhf_m100.R200}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")


def port_label(port: str) -> str:
    """'/dev/ttyS0' -> 'ttyS0', '/dev/pts/3' -> 'pts3', 'socket://h:7000' -> 'h:7000'."""
    label = port.split("://", 1)[-1]
    label = label.removeprefix("/dev/").replace("/", "")
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", label) or "port"


def reader_name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or port_label(entry["port"]))


def reader_stream(entry: dict[str, Any]) -> str:
    return f"rfid/{entry['model']}@{reader_name(entry)}"


def reader_baud(entry: dict[str, Any]) -> int:
    return int(entry.get("baudRate", MODELS[entry["model"]][1]))


def _check_readers(value: list[Any]) -> list[Any]:
    """Each entry: {"model", "port", "baudRate"?, "name"?, "variant"?}. Validates only."""
    streams = set()
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("model") not in MODELS:
            raise ValueError(f"entry {i}: needs 'model' out of {list(MODELS)}")
        if not isinstance(entry.get("port"), str) or not entry["port"]:
            raise ValueError(f"entry {i}: needs 'port' (a device path or a pyserial URL)")
        if entry.get("variant", "m100") not in VARIANTS:
            raise ValueError(f"entry {i}: variant must be one of {list(VARIANTS)}")
        baud = entry.get("baudRate", 9600)
        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise ValueError(f"entry {i}: baudRate must be a positive integer")
        if not _NAME_RE.match(reader_name(entry)):
            raise ValueError(f"entry {i}: name {reader_name(entry)!r} cannot be part of a stream")
        stream = reader_stream(entry)
        if stream in streams:
            raise ValueError(f"entry {i}: {stream} configured twice")
        streams.add(stream)
    return value


SPEC = Spec(
    *LOG_KEYS,
    Key("readers", list, [{"model": "rdm6300", "port": "/dev/serial0", "baudRate": 9600}],
        "the serial RFID readers: {model (rdm6300, id12la, id20la, uhf_m100), port, baudRate?, "
        "name? (default: the port's file name), variant? (m100, r200)}", check=_check_readers),
    Key("departAfterSeconds", float, 3.0, "silence after which a tag has departed",
        min=0.05, max=3600),
    Key("pollIntervalSeconds", float, 0.2, "UHF readers: time between inventory polls",
        min=0.02, max=60),
    Key("healthIntervalSeconds", float, 60.0, "how often changed reader counters are logged",
        min=0.1, max=86400),
    Key("publishLive", bool, True, "publish presence on local pub/sub (best effort)"),
    Key("arriveAfterReads", int, 1, "frames needed before a tag counts as arrived",
        min=1, max=100),
    Key("reopenIntervalSeconds", float, 5.0, "retry interval for a port that failed",
        min=0.1, max=3600),
)
