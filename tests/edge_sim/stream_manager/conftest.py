"""Fixtures: a Stream Manager server on a free port and the real SDK client talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stream_manager import StreamManagerClient
from waiting import wait_for

from edge_sim.stream_manager import MemoryKinesis, StreamManagerServer

TOKEN = "svcuid-test-token"
# Sim-time factor: a 60 s batch interval becomes 6 ms, the 5-minute backoff cap 30 ms.
SPEED = 10_000.0


@pytest.fixture
def sink() -> MemoryKinesis:
    return MemoryKinesis()


@pytest.fixture
def make_server(
    tmp_path: Path, sink: MemoryKinesis
) -> Iterator[Callable[..., StreamManagerServer]]:
    servers: list[StreamManagerServer] = []

    def make(**kwargs) -> StreamManagerServer:
        kwargs.setdefault("root", tmp_path / "sm")
        kwargs.setdefault("auth_tokens", {TOKEN})
        kwargs.setdefault("sink", sink)
        kwargs.setdefault("speed", SPEED)
        server = StreamManagerServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def server(make_server) -> StreamManagerServer:
    return make_server()


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., StreamManagerClient]]:
    """Connects the way a component does: port and token from the nucleus' environment."""
    clients: list[StreamManagerClient] = []

    def make(server: StreamManagerServer, token: str | None = TOKEN) -> StreamManagerClient:
        monkeypatch.setenv("STREAM_MANAGER_SERVER_PORT", str(server.port))
        if token is None:
            monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
        else:
            monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
        client = StreamManagerClient(request_timeout=10)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(server, connect) -> StreamManagerClient:
    return connect(server)


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Polls a condition the server reaches asynchronously (not a timing assertion)."""
    wait_for(predicate, timeout_s=timeout_s)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    return _wait_until
