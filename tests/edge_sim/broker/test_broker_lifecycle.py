"""Starting, stopping and failing to start the broker."""

from __future__ import annotations

import socket

import pytest

from edge_sim.broker import Broker, BrokerError, MqttCloudConnection


@pytest.mark.slow
def test_start_stop_and_logs(tmp_path):
    broker = Broker(tmp_path / "b")
    broker.start()
    port = broker.port
    assert broker.running
    conn = MqttCloudConnection(broker, "dev-001", via_link=False)
    conn.connect()
    conn.disconnect()
    broker.stop()
    assert not broker.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    log = broker.log_path.read_text()
    assert "running" in log
    assert "as dev-001" in log  # the certificate's CN became the client's identity


@pytest.mark.slow
def test_unreadable_server_key_is_a_clear_error(tmp_path):
    broker = Broker(tmp_path / "b")
    broker.server_files.key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    with pytest.raises(BrokerError) as err:
        broker.start()
    assert "key" in err.value.log_tail.lower()
    assert not broker.running
