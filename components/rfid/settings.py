"""The `rfid` component's configuration: keys, defaults and the reader entries."""

from __future__ import annotations

import os
import re
from typing import Any

from components.core.config import Key, Spec
from components.rfid.frames import id12, rdm6300, uhf_m100

PROTOCOLS = {"rdm6300": rdm6300.BAUD, "id12": id12.BAUD, "uhf_m100": uhf_m100.BAUD}
VARIANTS = {"m100": uhf_m100.M100, "r200": uhf_m100.R200}


def port_label(port: str) -> str:
    """'/dev/ttyS0' -> 'ttyS0', '/dev/pts/3' -> 'pts3', 'socket://h:7000' -> 'h:7000'."""
    label = port.split("://", 1)[-1]
    label = label.removeprefix("/dev/").replace("/", "")
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", label) or "port"


def _check_readers(value: list[Any]) -> list[dict[str, Any]]:
    out, names = [], set()
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or entry.get("protocol") not in PROTOCOLS:
            raise ValueError(f"entry {i}: needs 'protocol' out of {list(PROTOCOLS)}")
        if not isinstance(entry.get("port"), str) or not entry["port"]:
            raise ValueError(f"entry {i}: needs 'port' (a device path or URL)")
        if entry.get("variant", "m100") not in VARIANTS:
            raise ValueError(f"entry {i}: variant must be one of {list(VARIANTS)}")
        name = entry.get("name") or port_label(entry["port"])
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", name):
            raise ValueError(f"entry {i}: name {name!r} has characters a stream cannot carry")
        stream = f"rfid/{entry['protocol']}@{name}"
        if stream in names:
            raise ValueError(f"entry {i}: {stream} configured twice")
        names.add(stream)
        out.append({**entry, "name": name,
                    "baud": int(entry.get("baud", PROTOCOLS[entry["protocol"]]))})
    return out


SPEC = Spec(
    Key("deviceName", str, os.environ.get("AWS_IOT_THING_NAME", "floorline-dev"),
        "thing name stamped on every record"),
    Key("logPath", str, "/var/lib/floorline/log.db", "the durable log shared by the components"),
    Key("logBudgetBytes", int, 256 << 20, "byte budget of the log", min=1 << 20),
    Key("logFreeFloorBytes", int, 64 << 20, "free disk the log always leaves", min=0),
    Key("departAfterSeconds", float, 2.0, "silence after which a tag has departed",
        min=0.05, max=3600),
    Key("arriveAfterReads", int, 1, "frames needed before a tag counts as arrived",
        min=1, max=100),
    Key("pollIntervalSeconds", float, 0.2, "UHF readers: time between inventory polls",
        min=0.02, max=60),
    Key("statsIntervalSeconds", float, 60.0, "how often changed reader counters are logged",
        min=0.1, max=86400),
    Key("reopenIntervalSeconds", float, 5.0, "retry interval for a port that failed",
        min=0.1, max=3600),
    Key("publishLive", bool, True, "publish presence on local pub/sub (best effort)"),
    Key("liveTopicPrefix", str, "floorline/live", "local pub/sub topic prefix"),
    Key("readers", list, [], "the serial RFID readers", check=_check_readers),
)
