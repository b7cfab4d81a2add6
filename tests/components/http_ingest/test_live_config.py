"""A configuration update applies to the next request: tokens, body limit, schemas."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from ingest_server import TOKENS, auth, digest, sale

from components.core.clock import ManualClock
from components.core.log import Log
from components.http_ingest.commit_process import CommitProcess
from components.http_ingest.config import SPEC
from components.http_ingest.http import listening_socket, serve
from components.http_ingest.server import Ingest, LatencyWindow


@pytest.mark.slow
def test_update_swaps_tokens_limits_and_schemas_without_a_restart(tmp_path):
    clock = ManualClock()
    log_path = tmp_path / "log.sqlite"
    lg = Log.open(log_path, device="gw-1", clock=clock, free_floor_bytes=0)
    first = SPEC.parse(
        {
            "tokenSha256ByDevice": {"pos-17": digest(TOKENS["pos-17"])},
            "logPath": str(log_path),
            "freeDiskFloorBytes": 0,
        }
    )
    writer = CommitProcess(first, "gw-1")
    ingest = Ingest(first, lg, writer, clock)

    async def main():
        await writer.start()
        sock = listening_socket("127.0.0.1", 0)
        stop = asyncio.Event()
        server = asyncio.create_task(serve(ingest.handle, sock, tls=None, stop=stop))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/records"
        async with aiohttp.ClientSession() as s:

            async def post(body, device):
                async with s.post(url, json=body, headers=auth(device)) as r:
                    return r.status

            before = (await post(sale("pos-17"), "pos-17"), await post(sale("pos-18"), "pos-18"))
            ingest.apply(
                SPEC.parse(
                    {
                        "tokenSha256ByDevice": {"pos-18": digest(TOKENS["pos-18"])},
                        "maxBodyBytes": 256,
                        "recordSchemas": {"pos_sale": {"type": "object", "maxProperties": 0}},
                    }
                )
            )
            tiny = {"device": "pos-18", "type": "pos_sale", "data": {}}
            after = (
                await post(sale("pos-17"), "pos-17"),  # token withdrawn
                await post(tiny, "pos-18"),  # new token, new schema
                await post([sale("pos-18")] * 3, "pos-18"),  # over the new body limit
            )
        stop.set()
        await server
        await writer.stop()
        return before, after

    try:
        before, after = asyncio.run(main())
    finally:
        lg.close()
    assert before == (202, 401)
    assert after == (401, 202, 413)


def test_latency_window_percentiles():
    w = LatencyWindow(size=100)
    assert w.percentiles_ms()["p99"] is None
    for ms in range(1, 201):  # only the last 100 count
        w.add(ms * 1_000_000)
    assert w.percentiles_ms() == {"p50": 151.0, "p99": 200.0, "max": 200.0}
