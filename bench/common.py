"""What the benchmarks share: load loops (closed and open), percentiles, process helpers."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Result", "closed_loop", "open_loop", "free_port", "publish_and_collect", "start_tandemd", "wait_http"]


@dataclass
class Result:
    name: str
    latencies: list[float]
    seconds: float
    errors: int = 0

    @property
    def ops(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def closed_loop(op: Callable[[int], Awaitable[None]], seconds: float,
                      concurrency: int) -> tuple[list[float], float]:
    """``concurrency`` workers, each sending its next request when the last one answered (saturation)."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            began = time.perf_counter()
            await op(w * 1_000_000 + i)
            latencies.append(time.perf_counter() - began)
            i += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return latencies, time.perf_counter() - began


async def open_loop(op: Callable[[int], Awaitable[None]], seconds: float, rate: float) -> tuple[list[float], float]:
    """Requests started on a fixed schedule, ``rate`` per second, whatever the answers do.

    Latency counts from the *scheduled* start, so a slow server cannot hide its
    backlog (no coordinated omission).
    """
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    total = int(seconds * rate)

    async def one(i: int, due: float) -> None:
        await op(i)
        latencies.append(time.perf_counter() - due)

    for i in range(total):
        due = began + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due)))
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"{url} did not answer")


def start_tandemd(folder: Path, app_id: str, *args: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start a sidecar; returns the process, its URL and the seconds it took to be healthy."""
    home = folder / "home"
    log = open(folder / f"tandemd-{app_id}.log", "wb")  # noqa: SIM115 - lives as long as the process
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tandem.sidecar", "--app-id", app_id, "--dapr-http-port", "0",
                             "--log-level", "warn", *args],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TANDEM_HOME": str(home)})
    run = home / "run"
    while True:
        if proc.poll() is not None:
            raise SystemExit((folder / f"tandemd-{app_id}.log").read_text())
        entry = run / f"{proc.pid}.json"
        if entry.is_file():
            url = f"http://127.0.0.1:{json.loads(entry.read_text())['http_port']}"
            try:
                with urllib.request.urlopen(url + "/v1.0/healthz", timeout=1) as reply:
                    if reply.status == 204:
                        return proc, url, time.perf_counter() - began
            except OSError:
                pass
        time.sleep(0.002)


async def publish_and_collect(pub_url: str, app_url: str, topic: str, messages: int, concurrency: int,
                              name: str) -> Result:
    """Publish ``messages`` through a sidecar, then gather what bench/subscriber_app.py received."""
    import aiohttp

    counter = iter(range(messages))
    began = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async def produce() -> None:
            for n in counter:
                async with session.post(f"{pub_url}/v1.0/publish/pubsub/{topic}",
                                        json={"n": n, "t": time.time()}) as reply:
                    assert reply.status == 204, await reply.text()

        await asyncio.gather(*(produce() for _ in range(concurrency)))
        latencies: list[float] = []
        unique = 0
        deadline = time.monotonic() + 120
        while unique < messages and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            async with session.get(f"{app_url}/stats") as reply:
                stats = json.loads(await reply.read())
            latencies += stats["latencies"]
            unique += stats["unique"]
    return Result(name, latencies, time.perf_counter() - began, errors=messages - unique)
