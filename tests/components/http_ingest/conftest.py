"""Fixtures: a shared ingest server per module, and fresh ones with their own config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ingest_server import Server
from ingest_server import make_server as make_server  # a fixture, shared with tests/attack


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("ingest") / "log.sqlite").start()
    yield srv
    srv.stop()
