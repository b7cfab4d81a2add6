"""The rules bridge's MQTT connection: one subscriber thread on a blocking (TLS) socket.

Why not paho: the bridge takes every device message of a site, so its cost per message sets
how many devices the local cloud absorbs. paho reads a packet a few bytes at a time and writes
each PUBACK on its own; measured in load mode at 5,000 messages/s, paho and TLS took about
0.1 ms per message, five times the rules themselves. Here a read takes whatever the socket
holds, every PUBLISH in it is handled, then their PUBACKs leave in one write: still after the
handlers ran (at least once), fewer system calls and TLS records.

MQTT 3.1.1, clean session, QoS up to 1 (`cloud/mqtt/wire.py` holds the packets).
A lost connection is retried (1 s doubling to 30 s) and the subscriptions renewed; what the
broker delivered meanwhile to the old session is gone, as with any clean-session client.
`publish` is for the message callback (the bridge's republish action): it writes on this
thread's socket, which only this thread may use.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from cloud.mqtt import wire

log = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
READ_BYTES = 1 << 18


class SubscribeRefused(ConnectionError):
    """The broker refused the connection or a subscription."""


class Subscriber:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        filters: Sequence[str],
        on_message: Callable[[str, bytes], None],
        *,
        tls: ssl.SSLContext | None = None,
        keepalive_s: int = 60,
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.filters = list(filters)
        self.on_message = on_message
        self.tls = tls
        self.keepalive_s = keepalive_s
        self.stats: Counter[str] = Counter()
        self._sock: socket.socket | None = None
        self._reader = wire.PacketReader(max_packet_bytes=1 << 20)
        self._next_id = 0
        self._early: list[wire.Packet] = []  # what came in the same read as the SUBACK
        self._last_send = 0.0  # monotonic: keepalive counts what we send, not what we get
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe (raises if that fails), then serve on a thread."""
        self._sock = self._connect(timeout_s)
        self._thread = threading.Thread(target=self._serve, name="mqtt-subscriber", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the connection (no DISCONNECT: only the serving thread writes on the TLS
        socket, and a clean session leaves nothing behind at the broker anyway)."""
        self._stopping.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread's read
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
        if sock is not None:
            sock.close()

    @property
    def connected(self) -> bool:
        return self._sock is not None and not self._stopping.is_set()

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        """From the message callback only (this thread owns the socket)."""
        if self._thread is not None and threading.current_thread() is not self._thread:
            raise RuntimeError("Subscriber.publish is for the message callback's thread")
        if self._sock is None:
            raise ConnectionError("not connected")
        self._send(self._sock, wire.publish_packet(topic, payload, self._packet_id(), qos=qos))

    # ------------------------------------------------------------------ the connection
    def _send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)
        self._last_send = time.monotonic()

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id

    def _connect(self, timeout_s: float) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout=timeout_s)
        try:
            sock = self.tls.wrap_socket(raw, server_hostname=self.host) if self.tls else raw
            self._reader = wire.PacketReader(max_packet_bytes=1 << 20)
            self._send(sock, wire.connect_packet(self.client_id, self.keepalive_s))
            code = wire.connack_code(self._expect(sock, wire.CONNACK))
            if code:
                self.stats["connect_failures"] += 1
                reason = wire.CONNACK_REASONS.get(code, f"code {code}")
                raise SubscribeRefused(f"broker refused the connection: {reason}")
            wanted = [(f, 1) for f in self.filters]
            self._send(sock, wire.subscribe_packet(self._packet_id(), wanted))
            _, codes = wire.suback_codes(self._expect(sock, wire.SUBACK))
            refused = [f for f, c in zip(self.filters, codes, strict=False) if c == 0x80]
            if refused or len(codes) != len(self.filters):
                self.stats["subscribe_refused"] += max(len(refused), 1)
                raise SubscribeRefused(f"broker refused the subscriptions {refused}")
            sock.settimeout(self.keepalive_s / 2)
            return sock
        except BaseException:
            raw.close()
            raise

    def _expect(self, sock: socket.socket, kind: int) -> wire.Packet:
        """The next packet, which must be of `kind`; messages that follow it in the same
        read are kept for the serving thread."""
        while True:
            data = sock.recv(READ_BYTES)
            if not data:
                raise ConnectionError("the broker closed the connection")
            packets = self._reader.feed(data)
            if packets:
                if packets[0].kind != kind:
                    raise wire.MqttWireError(f"expected packet type {kind}", packets[0].body[:8])
                self._early = packets[1:]
                return packets[0]

    def _serve(self) -> None:
        retry_s = RETRY_FIRST_S
        while not self._stopping.is_set():
            sock = self._sock
            if sock is not None:
                try:
                    self._read_loop(sock)
                except (OSError, wire.MqttWireError) as exc:
                    if self._stopping.is_set():
                        return
                    self.stats["connection_lost"] += 1
                    log.warning("event=bridge_connection_lost error=%r", exc)
                sock.close()
                self._sock = None
            if self._stopping.wait(retry_s):
                return
            try:
                self._sock = self._connect(10.0)
                retry_s = RETRY_FIRST_S
                log.info("event=bridge_reconnected")
            except (OSError, wire.MqttWireError) as exc:
                retry_s = min(RETRY_MAX_S, retry_s * 2)
                log.warning("event=bridge_reconnect_failed error=%r retry_s=%.0f", exc, retry_s)

    def _read_loop(self, sock: socket.socket) -> None:
        early, self._early = self._early, []
        self._handle(sock, early)
        while True:
            try:
                data = sock.recv(READ_BYTES)
            except TimeoutError:
                data = None
            if data is not None:
                if not data:
                    raise ConnectionError("the broker closed the connection")
                self._handle(sock, self._reader.feed(data))
            # Keepalive counts what the client sends: QoS 0 traffic alone (no PUBACKs from us)
            # would otherwise get the connection dropped at 1.5 x keepalive.
            if time.monotonic() - self._last_send >= self.keepalive_s / 2:
                self._send(sock, wire.PINGREQ_PACKET)

    def _handle(self, sock: socket.socket, packets: list[wire.Packet]) -> None:
        acks = []
        for packet in packets:
            if packet.kind != wire.PUBLISH:
                continue  # PINGRESP, PUBACKs of our republishes
            topic, qos, packet_id, payload = wire.publish_parts(packet)
            self.stats["messages"] += 1
            try:
                self.on_message(topic, payload)
            except Exception:  # one message's fault must not stop the bridge
                self.stats["callback_errors"] += 1
                log.exception("event=bridge_message_failed topic=%s", topic)
            if qos:
                acks.append(wire.puback_packet(packet_id))
        if acks:  # after the handlers: at least once
            self._send(sock, b"".join(acks))
