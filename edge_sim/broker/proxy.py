"""A per-device TCP link on loopback that can be cut and restored: the device's network.

The device connects to the link's port instead of the broker's. `cut()` resets every open
connection (the device sees its socket die, as when a site's uplink drops) and refuses new
ones until `restore()`. TLS passes through untouched, so the broker still sees the device's
own certificate. One selector thread per link.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
from collections import Counter

log = logging.getLogger(__name__)

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, like a dead link


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    except OSError:
        pass  # already dead; close() below is all that is left to do
    sock.close()


class NetworkLink:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", name: str = "") -> None:
        self.target = (target_host, target_port)
        self.name = name
        self.stats: Counter[str] = Counter()
        self._sel = selectors.DefaultSelector()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._peers: dict[socket.socket, socket.socket] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._online = True
        self._running = False
        self._applied = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"link-{name}", daemon=True)

    @property
    def online(self) -> bool:
        return self._online

    def start(self) -> NetworkLink:
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._running = True
        self._thread.start()
        return self

    def cut(self) -> None:
        """Drop every connection now and refuse new ones. Returns once applied."""
        self._command(online=False)
        log.info("event=link_cut link=%s", self.name)

    def restore(self) -> None:
        self._command(online=True)
        log.info("event=link_restored link=%s", self.name)

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._wake_w.send(b"x")
        self._thread.join(5)
        for s in list(self._peers):
            _reset(s)
        self._peers.clear()
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()

    def _command(self, online: bool) -> None:
        self._applied.clear()
        self._online = online
        self._wake_w.send(b"x")
        self._applied.wait(5)

    def _run(self) -> None:
        while self._running:
            for key, _ in self._sel.select(timeout=1.0):
                if key.data == "wake":
                    self._wake_r.recv(64)
                    if not self._online:
                        self._drop_all()
                    self._applied.set()
                elif key.data == "accept":
                    self._accept()
                else:
                    self._pump(key.fileobj)  # type: ignore[arg-type]

    def _accept(self) -> None:
        try:
            device, _ = self._listener.accept()
        except BlockingIOError:
            return
        if not self._online:
            self.stats["refused"] += 1
            _reset(device)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError as exc:
            self.stats["upstream_failed"] += 1
            log.warning("event=link_upstream_failed link=%s error=%r", self.name, str(exc))
            _reset(device)
            return
        self.stats["connections"] += 1
        for s in (device, upstream):
            s.setblocking(True)
            s.settimeout(5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._peers[device] = upstream
        self._peers[upstream] = device
        self._sel.register(device, selectors.EVENT_READ, "up")
        self._sel.register(upstream, selectors.EVENT_READ, "down")

    def _pump(self, sock: socket.socket) -> None:
        peer = self._peers.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
                self.stats["bytes"] += len(data)
                return
        except OSError as exc:
            self.stats["socket_errors"] += 1
            log.info("event=link_socket_error link=%s error=%r", self.name, str(exc))
        self._close_pair(sock)

    def _close_pair(self, sock: socket.socket) -> None:
        peer = self._peers.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._peers.pop(s, None)
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass  # not registered any more
            s.close()

    def _drop_all(self) -> None:
        dropped = 0
        for s in list(self._peers):
            if s in self._peers:
                peer = self._peers.pop(s)
                self._peers.pop(peer, None)
                for x in (s, peer):
                    self._sel.unregister(x)
                    _reset(x)
                dropped += 1
        self.stats["dropped"] += dropped
