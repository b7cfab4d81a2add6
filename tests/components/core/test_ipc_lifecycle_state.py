"""components/core/ipc.py reports RUNNING best effort: on nucleus lite without gghealthd the
nucleus answers UpdateState with ServiceError and the component must still run."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from components.core import ipc
from edge_sim.nucleus.access import CLASSIC, LITE
from edge_sim.nucleus.ipc_server import NucleusServer

COMPONENT = "com.floorline.Probe"
TOKEN = "tok-state"


@pytest.fixture
def socket_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="gs", dir="/tmp")  # socket paths stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(("flavour", "reported"), [(CLASSIC, True), (LITE, False)])
def test_running_is_reported_where_the_nucleus_can_take_it(
    socket_dir: str, flavour: str, reported: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = os.path.join(socket_dir, "ipc.sock")
    with NucleusServer(sock, {COMPONENT: (TOKEN, {})}, flavour=flavour) as server:
        monkeypatch.setenv(ipc.SOCKET_ENV, sock)
        monkeypatch.setenv(ipc.TOKEN_ENV, TOKEN)
        gg = ipc.connect()
        assert gg is not None
        try:
            assert gg.report_running() is reported
            assert gg.update_state_failures == (0 if reported else 1)
            # The connection is still good after a refusal.
            assert gg.get_configuration() == {}
        finally:
            gg.close()
        assert server.component_states[COMPONENT] == ("RUNNING" if reported else "NEW")
