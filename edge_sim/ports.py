"""A free TCP port on the loopback interface, for the twins' servers and the tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; a race with another process that binds
    it before the caller does is possible, and the caller's bind then fails loudly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
