"""Fixtures: a running nucleus on a short Unix-socket path, and real awsiotsdk clients."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator

import awsiot.greengrasscoreipc as ggipc
import pytest
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from nucleus_world import (
    SENSORS,
    SENSORS_ACL,
    STREAM_MANAGER,
    THING,
    TOKENS,
    UPLINK,
    UPLINK_ACL,
)

from edge_sim.nucleus.cloud import InMemoryCloud
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.ipc_server import NucleusServer


@pytest.fixture
def short_dir() -> Iterator[str]:
    # Unix socket paths must stay under 108 bytes: pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="gg", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cloud() -> InMemoryCloud:
    return InMemoryCloud()


@pytest.fixture
def config() -> ConfigStore:
    store = ConfigStore()
    store.set_component(
        SENSORS,
        {
            "sampleIntervalSeconds": 5,
            "chips": {"bme280": {"address": "0x76", "enabled": True}},
            "accessControl": SENSORS_ACL,
        },
    )
    store.set_component(UPLINK, {"batchMaxBytes": 65536, "accessControl": UPLINK_ACL})
    store.set_component(STREAM_MANAGER, {})
    return store


@pytest.fixture
def server(short_dir: str, config: ConfigStore, cloud: InMemoryCloud) -> Iterator[NucleusServer]:
    srv = NucleusServer(
        os.path.join(short_dir, "ipc.sock"),
        components={
            SENSORS: (TOKENS[SENSORS], SENSORS_ACL),
            UPLINK: (TOKENS[UPLINK], UPLINK_ACL),
            STREAM_MANAGER: (TOKENS[STREAM_MANAGER], None),
        },
        config_store=config,
        cloud=cloud,
        thing_name=THING,
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def connect(server: NucleusServer) -> Iterator[Callable[[str], GreengrassCoreIPCClientV2]]:
    """Real V2 clients, one connection per component, closed at the end."""
    clients: list[GreengrassCoreIPCClientV2] = []

    def make(component: str) -> GreengrassCoreIPCClientV2:
        raw = ggipc.connect(ipc_socket=server.socket_path, authtoken=TOKENS[component], timeout=5)
        client = GreengrassCoreIPCClientV2(client=raw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
