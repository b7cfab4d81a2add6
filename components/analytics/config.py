"""The analytics component's configuration: the one declaration its recipe is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from components.analytics.detectors import SEVERITIES, DetectorConfigError
from components.analytics.streams import StreamSettings, parse_streams, window_lengths
from components.core.config import Spec, setting
from components.core.log.config import LogSettings

CONSUMER: Final = "analytics"  # this component's consumer name in the log
BATCH_RECORDS: Final = 500  # records per step
# Once caught up, a step when another process commits to the log (looked for every
# WAKE_POLL_S with one PRAGMA), and at least every STEP_INTERVAL_S for what is due by time
# alone. A reading's alert reaches the log and the alarm within WAKE_POLL_S of its commit;
# checkpoints are still written by the commit rule below, not per step.
STEP_INTERVAL_S: Final = 1.0
WAKE_POLL_S: Final = 0.05
# Work is committed (outputs + acknowledgement + changed state) at once when it holds an alert
# or an event, else at most every COMMIT_INTERVAL_S or COMMIT_RECORDS consumed records: the
# checkpoint then costs the SD card a few KB per stream every 10 s, not every second.
COMMIT_INTERVAL_S: Final = 10.0
COMMIT_RECORDS: Final = 5000


def _windows(value: Any) -> tuple[float, ...]:
    try:
        return tuple(window_lengths(value, "windowSeconds"))
    except DetectorConfigError as exc:
        raise ValueError(str(exc)) from exc


def _detectors(value: Any) -> Mapping[str, StreamSettings]:
    try:
        return MappingProxyType(parse_streams(value))
    except DetectorConfigError as exc:
        raise ValueError(str(exc)) from exc


def _pin(value: str) -> str:
    if value and not (value.startswith(("GPIO", "BCM", "BOARD", "J8:")) or value.isdigit()):
        raise ValueError(f"{value!r} is not a gpiozero pin name (e.g. GPIO17)")
    return value


@dataclass(frozen=True)
class AnalyticsSettings(LogSettings):
    """The analytics component's settings: one field per configuration key."""

    windowSeconds: tuple[float, ...] = setting(
        [10, 60], "tumbling window lengths for every stream", check=_windows, raw=list
    )
    detectors: Mapping[str, StreamSettings] = setting(
        {}, "per-stream settings keyed by stream name (README)", check=_detectors, raw=dict
    )
    silentAfterSeconds: float = setting(
        300.0,
        "a stream (or the whole device) silent this long raises an alert; 0 turns it off",
        min=0,
    )
    alarmPin: str = setting("GPIO17", "alarm output pin (gpiozero name); empty: none", check=_pin)
    ackButtonPin: str = setting("GPIO27", "acknowledge button pin; empty: none", check=_pin)
    alarmMinSeverity: str = setting(
        "critical", "lowest severity that drives the alarm", choices=SEVERITIES
    )


SPEC = Spec(AnalyticsSettings)
