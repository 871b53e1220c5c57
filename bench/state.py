"""Tandem benchmarks: each result is a ratio against a baseline measured in the same run.

    python bench/state.py [--seconds 5] [--concurrency 16] [--store sqlite|in-memory]

1. state save+get through a real ``tandemd`` vs the same driver called in-process, and vs
   the HTTP floor (the same client against a bare ASGI app on the same server stack);
2. the sidecar's resident memory, idle and under that load;
3. the sidecar's start-up time to a healthy ``/v1.0/healthz`` vs starting a bare Python.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from common import Result, closed_loop, start_tandemd
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.state import GetRequest, SetRequest, StateStore
from tandem.sidecar.plugins import component_registry, plugin_manager

_PAYLOAD = {"order": 42, "items": ["a", "b", "c"], "note": "x" * 200}


def _store_spec(kind: str, folder: Path) -> tuple[str, dict[str, str]]:
    if kind == "sqlite":
        return "state.sqlite", {"connectionString": str(folder / "bench.db")}
    return "state.in-memory", {}


async def bench_in_process(kind: str, folder: Path, seconds: float, concurrency: int) -> Result:
    ctype, props = _store_spec(kind, folder)
    registry = component_registry(plugin_manager())
    store = registry.lookup(ctype).create()
    assert isinstance(store, StateStore)
    if kind == "sqlite":
        props = {**props, "connectionString": str(folder / "direct.db")}
    await store.init(ComponentMetadata("statestore", ctype, properties=props, app_id="bench"))
    value = json.dumps(_PAYLOAD).encode()

    async def op(i: int) -> None:
        key = f"bench||k{i % 1000}"
        await store.set(SetRequest(key=key, value=value))
        assert await store.get(GetRequest(key=key)) is not None

    try:
        latencies, took = await closed_loop(op, seconds, concurrency)
    finally:
        await store.close()
    return Result(f"in-process {ctype}", latencies, took)


def start_sidecar(folder: Path, kind: str) -> tuple[subprocess.Popen[bytes], str, float]:
    ctype, props = _store_spec(kind, folder)
    components = folder / "components"
    components.mkdir(exist_ok=True)
    meta = "".join(f"  - name: {k}\n    value: '{v}'\n" for k, v in props.items())
    (components / "statestore.yaml").write_text(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\n"
        f"spec:\n  type: {ctype}\n  version: v1\n  metadata:\n{meta}")
    return start_tandemd(folder, "bench", "--resources-path", str(components))


async def bench_sidecar(url: str, seconds: float, concurrency: int, proc: psutil.Process,
                        name: str = "through tandemd") -> tuple[Result, int]:
    body = json.dumps(_PAYLOAD)
    peak = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def op(i: int) -> None:
            key = f"k{i % 1000}"
            async with session.post(f"{url}/v1.0/state/statestore",
                                    data=f'[{{"key":"{key}","value":{body}}}]',
                                    headers={"content-type": "application/json"}) as reply:
                assert reply.status == 204, await reply.text()
            async with session.get(f"{url}/v1.0/state/statestore/{key}") as reply:
                assert reply.status == 200
                await reply.read()

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, proc.memory_info().rss)
                await asyncio.sleep(0.1)

        sampler = asyncio.ensure_future(sample())
        await closed_loop(op, 0.5, concurrency)  # warm-up
        latencies, took = await closed_loop(op, seconds, concurrency)
        sampler.cancel()
    return Result(name, latencies, took), peak


def bench_floor(seconds: float, concurrency: int) -> Result:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("floor_app.py")), str(port)])
    try:
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.01)
        result, _ = asyncio.run(bench_sidecar(f"http://127.0.0.1:{port}", seconds, concurrency,
                                              psutil.Process(proc.pid), name="HTTP floor (bare ASGI)"))
        return result
    finally:
        proc.terminate()
        proc.wait(10)


def python_startup() -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import asyncio"], check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--store", choices=["sqlite", "in-memory"], default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        direct = asyncio.run(bench_in_process(args.store, folder, args.seconds, args.concurrency))
        proc, url, startup = start_sidecar(folder, args.store)
        try:
            ps = psutil.Process(proc.pid)
            time.sleep(0.5)
            idle = ps.memory_info().rss
            through, peak = asyncio.run(bench_sidecar(url, args.seconds, args.concurrency, ps))
        finally:
            proc.terminate()
            proc.wait(15)
        floor = bench_floor(args.seconds, args.concurrency)
        bare = statistics.median(python_startup() for _ in range(3))

    print(f"\nstate save+get, store {args.store}, concurrency {args.concurrency}, {args.seconds:.0f}s each\n")
    print(f"{'path':<28}{'ops/s':>10}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}")
    for r in (direct, floor, through):
        print(f"{r.name:<28}{r.ops:>10.0f}{r.pct(.5):>10.2f}{r.pct(.9):>10.2f}{r.pct(.99):>10.2f}")
    print(f"{'ratio (tandemd / direct)':<28}{through.ops / direct.ops:>10.2f}"
          f"{through.pct(.5) / direct.pct(.5):>10.1f}{through.pct(.9) / direct.pct(.9):>10.1f}"
          f"{through.pct(.99) / direct.pct(.99):>10.1f}")
    print(f"{'ratio (tandemd / floor)':<28}{through.ops / floor.ops:>10.2f}"
          f"{through.pct(.5) / floor.pct(.5):>10.1f}{through.pct(.9) / floor.pct(.9):>10.1f}"
          f"{through.pct(.99) / floor.pct(.99):>10.1f}")
    print(f"{'added latency ms':<28}{'':>10}{through.pct(.5) - direct.pct(.5):>10.2f}"
          f"{through.pct(.9) - direct.pct(.9):>10.2f}{through.pct(.99) - direct.pct(.99):>10.2f}")
    print(f"\n{'sidecar':<28}{'value':>12}{'baseline':>12}{'ratio':>10}")
    print(f"{'RSS idle / under load MB':<28}{idle / 2**20:>12.1f}{peak / 2**20:>12.1f}{peak / idle:>10.2f}")
    print(f"{'start-up to healthz s':<28}{startup:>12.3f}{bare:>12.3f}{startup / bare:>10.1f}")
    print("  (baseline for start-up: a bare `python -c 'import asyncio'`)")


if __name__ == "__main__":
    main()
