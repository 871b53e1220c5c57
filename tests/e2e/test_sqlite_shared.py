"""Two ``tandemd`` processes sharing one ``state.sqlite`` file lose no update."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from support import http, http_json

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def increment(session: aiohttp.ClientSession, url: str) -> int:
    """One ETag-guarded read-modify-write; returns how many conflicts it retried."""
    conflicts = 0
    while True:
        async with session.get(f"{url}/v1.0/state/store/counter") as reply:
            assert reply.status == 200
            value, etag = json.loads(await reply.read()), reply.headers["ETag"]
        async with session.post(f"{url}/v1.0/state/store",
                                json=[{"key": "counter", "value": value + 1, "etag": etag}]) as reply:
            if reply.status == 204:
                return conflicts
            assert reply.status == 409, await reply.text()
            conflicts += 1


async def test_200_concurrent_increments_across_two_sidecars_lose_none(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = {"store": {"type": "state.sqlite", "metadata": {"connectionString": str(tmp_path / "shared.db"),
                                                            "keyPrefix": "name"}}}
    one, two = tandemd(store, app_id="one"), tandemd(store, app_id="two")
    assert http_json("POST", f"{one.url}/v1.0/state/store", [{"key": "counter", "value": 0}])[0] == 204
    async with aiohttp.ClientSession() as session:
        conflicts = await asyncio.gather(*(increment(session, (one, two)[i % 2].url) for i in range(200)))
    assert http("GET", f"{one.url}/v1.0/state/store/counter")[2] == b"200"
    assert http("GET", f"{two.url}/v1.0/state/store/counter")[2] == b"200"
    assert sum(conflicts) > 0  # the guard was exercised, not bypassed


async def test_a_failed_transaction_on_one_sidecar_changes_nothing_seen_by_the_other(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = {"store": {"type": "state.sqlite", "metadata": {"connectionString": str(tmp_path / "t.db"),
                                                            "keyPrefix": "none"}}}
    one, two = tandemd(store, app_id="one"), tandemd(store, app_id="two")
    http_json("POST", f"{one.url}/v1.0/state/store", [{"key": "a", "value": 1}, {"key": "b", "value": 1}])
    status, _ = http_json("POST", f"{two.url}/v1.0/state/store/transaction", {"operations": [
        {"operation": "upsert", "request": {"key": "a", "value": 2}},
        {"operation": "upsert", "request": {"key": "b", "value": 2,
                                            "etag": "00000000-0000-4000-8000-000000000000"}},
    ]})
    assert status == 500
    assert http("GET", f"{one.url}/v1.0/state/store/a")[2] == b"1"
    assert http("GET", f"{one.url}/v1.0/state/store/b")[2] == b"1"
