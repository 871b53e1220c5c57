"""Actors: calls through tandemd to a local actor host, against the same calls made to the app directly.

    python bench/actors.py [--seconds 5] [--rate 500] [--concurrency 16] [--reminders 2000]

The app (bench/actor_app.py) answers every actor call at once, so what is
measured is the sidecar: turn lock, activation (a claim in the placement store,
SQLite here) and the hop. Printed, each beside the direct baseline from the same run:

* activation latency at a fixed rate (every call a new actor id; open loop), p50/p90/p99;
  Dapr reports p90 ≈ 3 ms at 500/s for this;
* calls per second on ONE actor (turns serialise them) and across 1,000 active actors;
* reminder triggers per second: N one-shot reminders due at once, until the app has seen them all.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from common import Result, closed_loop, free_port, open_loop, start_tandemd, wait_http

_COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: {db}
  - name: actorStateStore
    value: "true"
"""


async def _load(base: str, name: str, seconds: float, rate: float | None, concurrency: int,
                actor_id: Callable[[int], str]) -> Result:
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def op(i: int) -> None:
            nonlocal errors
            async with session.put(f"{base}/Bench/{actor_id(i)}/method/ping", data=b"{}") as reply:
                await reply.read()
                if reply.status != 200:
                    errors += 1

        if rate is None:
            latencies, took = await closed_loop(op, seconds, concurrency)
        else:
            latencies, took = await open_loop(op, seconds, rate)
    return Result(name, latencies, took, errors)


async def _reminders(sidecar: str, app: str, count: int) -> tuple[float, int]:
    """Register ``count`` reminders all due at one absolute time; seconds from then until the app saw them all."""
    due = int(time.time() + 2 + count / 500)  # registration finishes before this (whole seconds: RFC 3339)
    due_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{app}/fires") as reply:
            before = int(await reply.text())
        sem = asyncio.Semaphore(32)

        async def register(i: int) -> None:
            async with sem, session.put(f"{sidecar}/v1.0/actors/Bench/r{i % 500}/reminders/n{i}",
                                        json={"dueTime": due_text}) as reply:
                assert reply.status == 204, await reply.text()

        await asyncio.gather(*(register(i) for i in range(count)))
        assert time.time() < due, "registration took longer than planned; lower --reminders"
        seen = before
        while seen < before + count and time.time() - due < 120:
            await asyncio.sleep(0.02)
            async with session.get(f"{app}/fires") as reply:
                seen = int(await reply.text())
        return time.time() - due, seen - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reminders", type=int, default=2000)
    args = parser.parse_args()

    app_port = free_port()
    app = subprocess.Popen([sys.executable, str(Path(__file__).with_name("actor_app.py")), str(app_port)])
    procs: list[subprocess.Popen[bytes]] = [app]
    app_url = f"http://127.0.0.1:{app_port}"
    try:
        wait_http(f"{app_url}/dapr/config", app)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "components").mkdir()
            (folder / "components" / "state.yaml").write_text(_COMPONENT.format(db=folder / "actors.db"))
            sidecar, url, _ = start_tandemd(folder, "bench", "--app-port", str(app_port),
                                            "--resources-path", str(folder / "components"))
            procs.append(sidecar)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # hosting once the app's /dapr/config is read
                if _metadata(url).get("actorRuntime", {}).get("hostReady"):
                    break
                time.sleep(0.05)
            via, direct = f"{url}/v1.0/actors", f"{app_url}/actors"
            s, r, c = args.seconds, args.rate, args.concurrency
            fresh = iter(range(10**9))
            rows = [
                (asyncio.run(_load(direct, "direct, new id each call", s, r, c, lambda i: f"d{i}")),
                 asyncio.run(_load(via, "via tandemd, activation", s, r, c, lambda i: f"a{next(fresh)}"))),
                (asyncio.run(_load(direct, "direct, one actor", s, None, c, lambda i: "one")),
                 asyncio.run(_load(via, "via tandemd, one actor", s, None, c, lambda i: "one"))),
                (asyncio.run(_load(direct, "direct, 1000 actors", s, None, c, lambda i: f"m{i % 1000}")),
                 asyncio.run(_load(via, "via tandemd, 1000 actors", s, None, c, lambda i: f"m{i % 1000}"))),
            ]
            took, fired = asyncio.run(_reminders(url, app_url, args.reminders))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)

    print(f"\nactors: fixed rate {args.rate:.0f}/s (open loop) for activations; saturation (closed loop, "
          f"concurrency {args.concurrency}) for calls; {args.seconds:.0f}s each\n")
    print(f"{'path':<30}{'calls/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for direct_result, via_result in rows:
        for res in (direct_result, via_result):
            print(f"{res.name:<30}{res.ops:>9.0f}{res.pct(.5):>9.2f}{res.pct(.9):>9.2f}{res.pct(.99):>9.2f}"
                  f"{res.errors:>8}")
        print(f"{'  throughput ratio via/direct':<30}{via_result.ops / direct_result.ops:>9.2f}")
    one_actor = rows[1][1].ops
    print(f"\nreminders: {fired}/{args.reminders} one-shot reminders fired in {took:.2f}s after they came due "
          f"= {fired / took:.0f} triggers/s ({fired / took / one_actor:.2f}x the calls/s on one actor)")
    print("Dapr reports an activation p90 of about 3 ms at 500 calls/s.")


def _metadata(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/v1.0/metadata", timeout=5) as reply:
        return dict(json.loads(reply.read()))


if __name__ == "__main__":
    main()
