"""HTTP ingest under attack before authentication: the component's RSS growth per attack.

    python -m bench.http_attack [--seconds 15]

The component runs as on a device (`bench.http_ingest.start_server`); each attack comes from
this process over real sockets while a sampler reads the RSS of the component's processes
every 20 ms. Figures: peak RSS over the idle RSS during each attack (goal: <= 10 MiB; before
the limits, 16 MiB of headers grew it from 35 to 421 MiB), and whether a legitimate post
during the attack was answered 202.

Attacks: huge headers (20 connections, 16 MiB each), 10,000 header fields, slow headers
(250 connections trickling a byte per second), a connection flood (2,000 connections that
send nothing; the cap is 256), and 64 MiB request targets.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.http_ingest import TOKEN, _rss_kib, start_server
from bench.report import emit

GOAL_MIB = 10.0


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kib = max(self.peak_kib, _rss_kib(self.pid)[0])
            time.sleep(0.02)


def _send(port: int, data: bytes, chunk: int = 1 << 16) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            for i in range(0, len(data), chunk):
                s.sendall(data[i : i + chunk])
            s.recv(1024)
    except OSError:
        pass  # refused and closed mid-send: what the server meant


def _parallel(n: int, target: Callable[[], None]) -> None:
    threads = [threading.Thread(target=target, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def huge_headers(port: int, seconds: float) -> None:
    head = b"POST /v1/records HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (16 << 20)
    _parallel(20, lambda: _send(port, head))


def many_headers(port: int, seconds: float) -> None:
    head = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
    _parallel(20, lambda: _send(port, head + b"\r\n"))


def long_target(port: int, seconds: float) -> None:
    _parallel(8, lambda: _send(port, b"GET /" + b"a" * (64 << 20) + b" HTTP/1.1\r\n\r\n"))


def slow_headers(port: int, seconds: float) -> None:
    socks = []
    for _ in range(250):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /v1/records HTTP/1.1\r\n")
            socks.append(s)
        except OSError:
            break
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for s in socks:
            try:
                s.sendall(b"X")
            except OSError:
                pass
        time.sleep(1.0)
    for s in socks:
        s.close()


def connection_flood(port: int, seconds: float) -> None:
    socks = []
    for _ in range(2000):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    time.sleep(seconds)
    for s in socks:
        s.close()


def _legit_post(port: int) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/records",
        data=b'{"device":"pos-1","type":"pos_sale","data":{"receipt_id":"r","total_cents":1,'
        b'"currency":"EUR","lines":[{"sku":"a","quantity":1,"unit_price_cents":1}]}}',
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


ATTACKS = {
    "huge headers (20 x 16 MiB)": huge_headers,
    "10,000 header fields (20 x)": many_headers,
    "64 MiB request target (8 x)": long_target,
    "slow headers (250 connections)": slow_headers,
    "connection flood (2,000)": connection_flood,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=15.0, help="length of the slow attacks")
    args = ap.parse_args(argv)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        server, port, _env = start_server(Path(tmp) / "log.sqlite")
        try:
            assert _legit_post(port) == 202
            idle = _rss_kib(server.pid)[0]
            rows.append(
                {
                    "figure": "RSS idle (HTTP + commit process)",
                    "value": round(idle / 1024, 1),
                    "unit": "MiB",
                }
            )
            for name, attack in ATTACKS.items():
                sampler = _Sampler(server.pid)
                sampler.start()
                t = threading.Thread(target=attack, args=(port, args.seconds), daemon=True)
                t.start()
                time.sleep(min(2.0, args.seconds / 2))
                status = _legit_post(port)  # a terminal posting during the attack
                t.join(args.seconds * 4 + 120)
                time.sleep(0.5)
                sampler.stop.set()
                sampler.join()
                growth = (sampler.peak_kib - idle) / 1024
                rows.append(
                    {
                        "figure": f"RSS growth: {name}",
                        "value": round(growth, 1),
                        "unit": "MiB",
                        "goal": GOAL_MIB,
                        "ratio": round(max(growth, 0) / GOAL_MIB, 2),
                        "note": f"legit post during it: {status}",
                    }
                )
                print(f"{name}: +{growth:.1f} MiB, legit post {status}", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(30)
    emit("http_attack", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
