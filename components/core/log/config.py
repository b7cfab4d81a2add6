"""The log's configuration keys, shared by every component that opens the log (one place)."""

from __future__ import annotations

from typing import Any

from components.core.clock import Clock
from components.core.config import Key, check_file_path
from components.core.log import Log

DEFAULT_LOG_PATH = "/var/lib/floorline/log.sqlite"

LOG_KEYS = (
    Key(
        "logPath",
        str,
        DEFAULT_LOG_PATH,
        "The durable log shared by the components",
        check=check_file_path,
    ),
    Key("logBudgetBytes", int, 1 << 30, "Byte budget of the log (pages + WAL)", min=1 << 20),
    Key("freeDiskFloorBytes", int, 256 << 20, "Free disk the log always leaves", min=0),
)


def open_log(cfg: Any, device: str, clock: Clock | None = None) -> Log:
    """Open the log as configured (cfg: a Config holding LOG_KEYS)."""
    return Log.open(
        cfg.logPath,
        device=device,
        budget_bytes=cfg.logBudgetBytes,
        free_floor_bytes=cfg.freeDiskFloorBytes,
        clock=clock,
    )
