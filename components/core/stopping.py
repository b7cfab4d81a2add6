"""A component's stop request, safe to set from a signal handler.

`threading.Event().set()` in a SIGTERM handler can deadlock the component: the handler runs in
the main thread, between two bytecodes, and if that thread was inside `Event.wait()` holding
the event's lock, `set()` waits for that lock forever. The nucleus then kills the component
after its timeout, and whatever it had not committed is lost. `Stop` takes no lock: setting it
writes a byte to a pipe that every waiter selects on (the byte is never read, so the pipe
stays readable and every later wait returns at once).
"""

from __future__ import annotations

import os
import select
import signal


class Stop:
    """`set` / `is_set` / `wait(timeout)` like `threading.Event`, without a lock."""

    def __init__(self) -> None:
        self._set = False
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)

    def on_signals(self, *signals: int) -> Stop:
        """Set on each of `signals` (main thread only, as for any signal handler)."""
        for sig in signals:
            signal.signal(sig, lambda *_: self.set())
        return self

    def set(self) -> None:
        self._set = True
        try:
            os.write(self._w, b"\0")
        except BlockingIOError:  # the pipe is full: it is readable already
            pass

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False when `timeout` seconds pass first."""
        if not self._set:
            # A signal during select runs its handler, which makes the pipe readable; select
            # is then retried with the time left (PEP 475) and returns.
            select.select([self._r], [], [], timeout)
        return self._set

    def __del__(self) -> None:  # nobody can wait on it any more: give the pipe back
        for fd in (getattr(self, "_r", -1), getattr(self, "_w", -1)):
            if fd >= 0:
                os.close(fd)
