"""The log's configuration keys, shared by every component that opens the log (one place)."""

from __future__ import annotations

from dataclasses import dataclass

from components.core.clock import Clock
from components.core.config import check_file_path, setting
from components.core.log import Log

DEFAULT_LOG_PATH = "/var/lib/floorline/log.sqlite"


@dataclass(frozen=True)
class LogSettings:
    """The keys of every component that opens the log; its settings extend this class."""

    logPath: str = setting(
        DEFAULT_LOG_PATH, "The durable log shared by the components", check=check_file_path
    )
    logBudgetBytes: int = setting(1 << 30, "Byte budget of the log (pages + WAL)", min=1 << 20)
    freeDiskFloorBytes: int = setting(256 << 20, "Free disk the log always leaves", min=0)


def open_log(cfg: LogSettings, device: str, clock: Clock | None = None) -> Log:
    """Open the log as configured."""
    return Log.open(
        cfg.logPath,
        device=device,
        budget_bytes=cfg.logBudgetBytes,
        free_floor_bytes=cfg.freeDiskFloorBytes,
        clock=clock,
    )
