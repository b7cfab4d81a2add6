"""Fixtures: a shared ingest server per module, and fresh ones with their own config."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ingest_server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("ingest") / "log.sqlite").start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path) -> Iterator[Any]:
    started: list[Server] = []

    def make(**config: Any) -> Server:
        srv = Server(config.pop("log_path", tmp_path / "log.sqlite"), **config).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        if srv.alive():
            srv.stop()
