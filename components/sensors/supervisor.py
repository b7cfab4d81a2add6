"""Keeps one sensor honest: retries bus errors with backoff, marks the sensor faulty when they
persist, re-initialises a chip that comes back (hot-plug), and reports every state change as a
health record. A reading comes out only when the chip answered and its data checked out."""

from __future__ import annotations

import errno as errno_mod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from components.core.clock import Clock
from components.lib.drivers.ads1115 import LoopFault
from components.lib.drivers.base import (
    ChecksumError,
    Driver,
    NotReady,
    Sleep,
    WrongChip,
    is_transient,
)


@dataclass
class PollResult:
    reading: dict[str, Any] | None = None
    health: list[dict[str, Any]] = field(default_factory=list)


def describe(exc: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)[:200]}
    if isinstance(exc, OSError) and exc.errno is not None:
        out["errno"] = exc.errno
        out["errno_name"] = errno_mod.errorcode.get(exc.errno, "?")
    evidence = getattr(exc, "evidence", None)
    if isinstance(evidence, bytes | bytearray):
        out["evidence_hex"] = bytes(evidence).hex()
    elif isinstance(evidence, int | float):
        out["evidence"] = evidence
    return out


class SensorSupervisor:
    def __init__(
        self,
        driver: Driver,
        clock: Clock,
        sleep: Sleep,
        *,
        attempts: int = 3,
        backoff_s: float = 0.005,
        reinit_interval_s: float = 5.0,
    ) -> None:
        self.driver = driver
        self.clock = clock
        self.sleep = sleep
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.reinit_interval_ns = int(reinit_interval_s * 1e9)
        self.state = "new"  # new -> ok | faulty ; condition (e.g. loop fault) on top of ok
        self.condition: str | None = None
        self.initialised = False
        self.counts: Counter[str] = Counter()
        self._next_init_ns = 0
        self._fault_since_ns: int | None = None

    @property
    def stream(self) -> str:
        return self.driver.stream

    @property
    def health_stream(self) -> str:
        return "health/" + self.driver.stream.split("/", 1)[1]

    def _with_retries(self, action: Any) -> Any:
        """Run `action`, retrying transient bus errors, CRC errors and not-ready with backoff."""
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except ChecksumError:
                self.counts["crc_errors"] += 1
                if attempt == self.attempts:
                    raise
            except NotReady:
                self.counts["not_ready"] += 1
                if attempt == self.attempts:
                    raise
            except OSError as exc:
                if not is_transient(exc):
                    raise
                self.counts["bus_errors"] += 1
                if attempt == self.attempts:
                    raise
            self.counts["retries"] += 1
            self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _health(self, event: str, **fields: Any) -> dict[str, Any]:
        return {"event": event, "sensor": self.driver.stream, "state": self.state, **fields}

    def _fault(self, exc: BaseException, now: int, phase: str) -> PollResult:
        self.counts["failures"] += 1
        # The chip may have lost power (hot-plug): the next attempt starts with a fresh init.
        self.initialised = False
        self._next_init_ns = now + self.reinit_interval_ns
        result = PollResult()
        if self.state != "faulty":
            self.state = "faulty"
            self._fault_since_ns = now
            result.health.append(
                self._health("sensor_fault", phase=phase, attempts=self.attempts, **describe(exc))
            )
        return result

    def poll(self) -> PollResult:
        now = self.clock.monotonic_ns()
        result = PollResult()
        if not self.initialised:
            if now < self._next_init_ns:
                self.counts["skipped_while_faulty"] += 1
                return result
            try:
                self._with_retries(self.driver.init)
            except (OSError, WrongChip, ChecksumError, NotReady) as exc:
                return self._fault(exc, now, "init")
            self.counts["inits"] += 1
            self.initialised = True
        try:
            reading = dict(self._with_retries(self.driver.read))
        except LoopFault as exc:
            self.counts["loop_faults"] += 1
            if self.condition != "loop_fault":
                self.condition = "loop_fault"
                result.health.append(self._health("loop_fault", **describe(exc)))
            return result
        except (OSError, ChecksumError, NotReady) as exc:
            result.health += self._fault(exc, now, "read").health
            return result
        # Recovered means a good reading again, not merely a chip that answers its init.
        if self.state == "faulty":
            self.state = "ok"
            down_s = (now - (self._fault_since_ns or now)) / 1e9
            result.health.append(
                self._health("sensor_recovered", down_s=down_s, reinitialised=True)
            )
        self.state = "ok"
        if self.condition is not None:
            result.health.append(self._health(self.condition + "_cleared"))
            self.condition = None
        self.counts["readings"] += 1
        result.reading = reading
        return result

    def stats(self) -> dict[str, Any]:
        return {"sensor": self.driver.stream, "state": self.state, **self.counts}
