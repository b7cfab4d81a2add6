"""Many clients at once, and SIGKILL of the server in the middle of a load.

Oracle: what the clients were told (202 with identities) against what the log file holds,
read independently after the server is gone.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from ingest_server import Server, auth

from components.core.log import Log


def body_for(key: str) -> list[dict]:
    """Two sales whose receipt ids name the request they came from."""
    return [
        {
            "device": "pos-17",
            "type": "pos_sale",
            "data": {
                "receipt_id": f"{key}/{n}",
                "total_cents": 100 + n,
                "currency": "EUR",
                "lines": [{"sku": "tea", "quantity": 1, "unit_price_cents": 100 + n}],
            },
        }
        for n in range(2)
    ]


async def _post(session, url, key):
    async with session.post(
        url, json=body_for(key), headers={**auth("pos-17"), "Idempotency-Key": key}
    ) as r:
        return r.status, await r.json()


def held_records(log_path) -> list:
    with Log.open(log_path, device="gw-1", free_floor_bytes=0) as lg:
        return list(lg.snapshot_records(["event"]))


def receipts(log_path) -> Counter:
    return Counter(r.payload["data"]["receipt_id"] for r in held_records(log_path))


def identities(resp) -> list[tuple]:
    return [(x["device"], x["stream"], x["seq"]) for x in resp["results"]]


@pytest.mark.slow
def test_a_hundred_concurrent_clients_each_get_their_own_committed_identity(make_server):
    srv = make_server()
    url = f"{srv.url}/v1/records"

    async def main():
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:

            async def client(c):
                return [await _post(s, url, f"c{c}-r{i}") for i in range(5)]

            return await asyncio.gather(*(client(c) for c in range(100)))

    per_client = asyncio.run(main())
    answers = [a for client in per_client for a in client]
    assert all(status == 202 for status, _ in answers)
    ids = [i for _, resp in answers for i in identities(resp)]
    assert len(ids) == len(set(ids)) == 1000
    seqs = sorted(seq for _, _, seq in ids)
    assert seqs == list(range(1, 1001))  # one stream, gapless, nothing twice
    srv.stop()
    held = receipts(srv.log_path)
    assert len(held) == 1000 and set(held.values()) == {1}


@pytest.mark.slow
def test_sigkill_during_load_loses_no_acknowledged_record_and_retries_never_duplicate(tmp_path):
    log_path = tmp_path / "log.sqlite"
    rng = random.Random(11)
    acked: dict[str, list[tuple]] = {}
    unknown: set[str] = set()  # sent, no answer: the kill came first

    async def load(srv, round_no, kill_after):
        url = f"{srv.url}/v1/records"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

            async def worker(w):
                i = 0
                while True:
                    key = f"k{round_no}-{w}-{i}"
                    try:
                        status, resp = await _post(s, url, key)
                    except (TimeoutError, aiohttp.ClientError):
                        unknown.add(key)
                        return
                    assert status == 202, resp
                    acked[key] = identities(resp)
                    if len(acked) >= kill_after and srv.alive():
                        srv.kill()  # mid-load: other workers have requests in flight
                    i += 1

            await asyncio.gather(*(worker(w) for w in range(20)))

    for round_no in range(3):
        srv = Server(log_path).start()
        asyncio.run(load(srv, round_no, len(acked) + rng.randint(100, 300)))
        assert not srv.alive()

    # Restart; retry every unanswered request and a sample of answered ones with their keys.
    srv = Server(log_path).start()
    retry_acked = rng.sample(sorted(acked), 50)

    async def retry():
        url = f"{srv.url}/v1/records"
        async with aiohttp.ClientSession() as s:
            return {k: await _post(s, url, k) for k in sorted(unknown) + retry_acked}

    again = asyncio.run(retry())
    srv.stop()
    for key in retry_acked:
        status, resp = again[key]
        assert status == 202 and resp["replayed"] is True
        assert identities(resp) == acked[key], key
    for key in unknown:
        assert again[key][0] == 202

    records = held_records(log_path)
    held = Counter(r.payload["data"]["receipt_id"] for r in records)
    by_identity = {r.identity: r.payload["data"]["receipt_id"] for r in records}
    for key, ids in acked.items():  # the identity a client was given names its own record
        assert [by_identity[i] for i in ids] == [f"{key}/0", f"{key}/1"]
    duplicated = [r for r, n in held.items() if n > 1]
    assert not duplicated, duplicated[:5]
    for key in list(acked) + sorted(unknown):
        for n in range(2):
            assert held[f"{key}/{n}"] == 1, f"{key}/{n} lost"
    assert unknown, "the kills should have caught requests in flight"


@pytest.mark.slow
def test_concurrent_retries_with_one_key_write_once(make_server):
    srv = make_server()
    url = f"{srv.url}/v1/records"

    async def main():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            return await asyncio.gather(*(_post(s, url, "same-key") for _ in range(30)))

    answers = asyncio.run(main())
    assert all(status == 202 for status, _ in answers)
    assert len({tuple(identities(resp)) for _, resp in answers}) == 1
    assert sum(not resp["replayed"] for _, resp in answers) == 1
    srv.stop()
    assert receipts(srv.log_path) == {"same-key/0": 1, "same-key/1": 1}


@pytest.mark.slow
def test_a_killed_commit_process_stops_the_component_which_acknowledged_only_commits(
    make_server,
):
    srv = make_server()
    assert srv.proc is not None

    async def post_one(key):
        async with aiohttp.ClientSession() as s:
            return await _post(s, f"{srv.url}/v1/records", key)

    assert asyncio.run(post_one("before"))[0] == 202
    children = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    assert len(children) == 1, "the component runs one commit process"
    os.kill(int(children[0]), signal.SIGKILL)
    assert srv.proc.wait(timeout=20) == 1  # it exits, and Greengrass restarts it
    assert receipts(srv.log_path) == {"before/0": 1, "before/1": 1}
