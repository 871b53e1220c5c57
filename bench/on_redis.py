"""Redis: Tandem's ``state.redis`` and ``pubsub.redis`` against redis-py and FastStream, one run.

    python bench/on_redis.py [--seconds 3] [--messages 3000] [--concurrency 16]

Needs the shared Redis (``REDIS_URL``, default redis://127.0.0.1:6379) and the
``tandem-redis`` plugin; FastStream (``pip install 'faststream[redis]'``) for its row.
Every key and stream carries a fresh prefix and is deleted afterwards.

1. state save and get through ``tandemd`` vs the same hash operations with redis-py directly;
2. pub/sub publish → handler through two sidecars vs direct ``XADD``/``XREADGROUP``/``XACK``
   and vs FastStream's Redis Streams subscriber.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from common import Result, closed_loop, free_port, publish_and_collect, start_tandemd, wait_http

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
_VALUE = json.dumps({"order": 42, "note": "x" * 200})


def _components(folder: Path, prefix: str) -> Path:
    host = REDIS_URL.split("//", 1)[1].split("/")[0]
    components = folder / "components"
    components.mkdir(exist_ok=True)
    for name, ctype in (("statestore", "state.redis"), ("pubsub", "pubsub.redis")):
        extra = f"  - {{name: keyPrefix, value: {prefix}}}\n" if ctype == "state.redis" else ""
        (components / f"{name}.yaml").write_text(
            f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\n"
            f"spec:\n  type: {ctype}\n  version: v1\n  metadata:\n"
            f"  - {{name: redisHost, value: '{host}'}}\n{extra}")
    return components


async def state_direct(client: aioredis.Redis, prefix: str, seconds: float, concurrency: int) -> tuple[Result, Result]:
    async def save(i: int) -> None:
        await client.hset(f"{prefix}||k{i % 50}", mapping={"data": _VALUE, "version": i})

    async def get(i: int) -> None:
        assert await client.hgetall(f"{prefix}||k{i % 50}")

    saves = Result("save, redis-py direct", *await closed_loop(save, seconds, concurrency))
    gets = Result("get, redis-py direct", *await closed_loop(get, seconds, concurrency))
    return saves, gets


async def state_sidecar(url: str, seconds: float, concurrency: int) -> tuple[Result, Result]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def save(i: int) -> None:
            async with session.post(f"{url}/v1.0/state/statestore",
                                    data=f'[{{"key":"k{i % 50}","value":{_VALUE}}}]') as reply:
                assert reply.status == 204, await reply.text()

        async def get(i: int) -> None:
            async with session.get(f"{url}/v1.0/state/statestore/k{i % 50}") as reply:
                assert reply.status == 200
                await reply.read()

        saves = Result("save, through tandemd", *await closed_loop(save, seconds, concurrency))
        gets = Result("get, through tandemd", *await closed_loop(get, seconds, concurrency))
    return saves, gets


async def streams_direct(client: aioredis.Redis, stream: str, messages: int, concurrency: int) -> Result:
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    latencies: list[float] = []
    began = time.perf_counter()

    async def consume() -> None:
        while len(latencies) < messages:
            found = await client.xreadgroup("g", "c", {stream: ">"}, count=100, block=100)
            for _, entries in found or []:
                for entry_id, fields in entries:
                    latencies.append(time.time() - json.loads(fields[b"data"])["t"])
                    await client.xack(stream, "g", entry_id)

    counter = iter(range(messages))

    async def produce() -> None:
        for n in counter:
            await client.xadd(stream, {"data": json.dumps({"n": n, "t": time.time()}), "metadata": "{}"})

    await asyncio.gather(consume(), *(produce() for _ in range(concurrency)))
    return Result("direct XADD/XREADGROUP", latencies, time.perf_counter() - began)


async def streams_faststream(stream: str, messages: int, concurrency: int) -> Result | None:
    try:
        from faststream.redis import RedisBroker, StreamSub
    except ImportError:
        return None
    broker = RedisBroker(REDIS_URL)
    latencies: list[float] = []
    done = asyncio.Event()

    @broker.subscriber(stream=StreamSub(stream, group="g", consumer="c"))
    async def handle(body: dict) -> None:  # type: ignore[type-arg]
        latencies.append(time.time() - body["t"])
        if len(latencies) >= messages:
            done.set()

    await broker.start()
    began = time.perf_counter()
    counter = iter(range(messages))

    async def produce() -> None:
        for n in counter:
            await broker.publish({"n": n, "t": time.time()}, stream=stream)

    await asyncio.gather(*(produce() for _ in range(concurrency)))
    await asyncio.wait_for(done.wait(), 120)
    took = time.perf_counter() - began
    await broker.stop()
    return Result("FastStream subscriber", latencies, took)


STREAM = f"bench-{uuid.uuid4().hex[:8]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(REDIS_URL)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        direct_state = asyncio.run(state_direct(client, prefix + "-direct", args.seconds, args.concurrency))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            components = _components(folder, prefix)
            app_port = free_port()
            app = subprocess.Popen([sys.executable, str(Path(__file__).with_name("subscriber_app.py")),
                                    str(app_port), STREAM])
            procs.append(app)
            wait_http(f"http://127.0.0.1:{app_port}/stats", app)
            sub, sub_url, _ = start_tandemd(folder, "subscriber", "--resources-path", str(components),
                                            "--app-port", str(app_port))
            pub, pub_url, _ = start_tandemd(folder, "publisher", "--resources-path", str(components))
            procs += [sub, pub]
            sidecar_state = asyncio.run(state_sidecar(pub_url, args.seconds, args.concurrency))
            while True:
                with urllib.request.urlopen(sub_url + "/v1.0/metadata") as reply:
                    if json.loads(reply.read())["subscriptions"]:
                        break
                time.sleep(0.05)
            via = asyncio.run(publish_and_collect(pub_url, f"http://127.0.0.1:{app_port}", STREAM, args.messages,
                                                  args.concurrency, "through 2 tandemd"))
        direct = asyncio.run(streams_direct(aioredis.Redis.from_url(REDIS_URL), STREAM + "-direct",
                                            args.messages, args.concurrency))
        fast = asyncio.run(streams_faststream(STREAM + "-faststream", args.messages, args.concurrency))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)

        async def cleanup() -> None:
            cleaner = aioredis.Redis.from_url(REDIS_URL)
            for pattern in (f"{prefix}*", f"{STREAM}*"):
                async for key in cleaner.scan_iter(match=pattern, count=1000):
                    await cleaner.delete(key)
            await cleaner.aclose()

        asyncio.run(cleanup())

    print(f"\nRedis at {REDIS_URL}; concurrency {args.concurrency}\n")
    print(f"{'state':<28}{'ops/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
    for d, s in zip(direct_state, sidecar_state, strict=True):
        for r in (d, s):
            print(f"{r.name:<28}{r.ops:>9.0f}{r.pct(.5):>9.2f}{r.pct(.9):>9.2f}{r.pct(.99):>9.2f}")
        print(f"{'  ratio tandemd / direct':<28}{s.ops / d.ops:>9.2f}")
    print(f"\n{'pub/sub, ' + str(args.messages) + ' messages':<28}{'msg/s':>9}{'p50 ms':>9}{'p90 ms':>9}"
          f"{'p99 ms':>9}{'lost':>6}")
    for r in (direct, fast, via):
        if r is not None:
            print(f"{r.name:<28}{r.ops:>9.0f}{r.pct(.5):>9.2f}{r.pct(.9):>9.2f}{r.pct(.99):>9.2f}{r.errors:>6}")
    print(f"{'  ratio tandemd / direct':<28}{via.ops / direct.ops:>9.2f}")
    if fast is not None:
        print(f"{'  ratio tandemd / FastStream':<28}{via.ops / fast.ops:>9.2f}")


if __name__ == "__main__":
    main()
