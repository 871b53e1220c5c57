"""Service invocation: A → A's sidecar → B's sidecar → B, against A → B direct, in one run.

    python bench/invoke.py [--seconds 5] [--rate 1000] [--concurrency 16]

B is a bare ASGI app answering a 1 KB body with 1 KB. Two loads, each on both paths:
a fixed request rate (open loop: latency counted from the scheduled start, so a
backlog shows) and saturation (closed loop at a fixed concurrency). Printed: p50,
p90, p99, throughput, the latency the two sidecars add, and the throughput ratio.
Dapr's own CI gate for this path is an added p90 of at most 2.0 ms at 1000 rps.
"""
from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from common import Result, closed_loop, free_port, open_loop, start_tandemd, wait_http

_PAYLOAD = b"x" * 1024


async def measure(url: str, seconds: float, rate: float | None, concurrency: int, name: str,
                  headers: dict[str, str] | None = None) -> Result:
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def op(i: int) -> None:
            nonlocal errors
            async with session.post(url, data=_PAYLOAD, headers=headers) as reply:
                body = await reply.read()
                if reply.status != 200 or len(body) != len(_PAYLOAD):
                    errors += 1

        await closed_loop(op, 0.5, concurrency)  # warm the pools
        if rate:
            latencies, took = await open_loop(op, seconds, rate)
        else:
            latencies, took = await closed_loop(op, seconds, concurrency)
    return Result(name, latencies, took, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    app_port = free_port()
    app = subprocess.Popen([sys.executable, str(Path(__file__).with_name("floor_app.py")), str(app_port), "echo"])
    procs: list[subprocess.Popen[bytes]] = [app]
    try:
        wait_http(f"http://127.0.0.1:{app_port}/", app)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            b, _, _ = start_tandemd(folder, "b", "--app-port", str(app_port))
            procs.append(b)
            a, a_url, _ = start_tandemd(folder, "a")
            procs.append(a)
            direct_url = f"http://127.0.0.1:{app_port}/method"
            via_url = f"{a_url}/v1.0/invoke/b/method/method"
            rows = []
            for label, rate in (("rate", args.rate), ("saturation", None)):
                direct = asyncio.run(measure(direct_url, args.seconds, rate, args.concurrency, f"direct, {label}"))
                via = asyncio.run(measure(via_url, args.seconds, rate, args.concurrency, f"via 2 sidecars, {label}"))
                rows.append((direct, via))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(15)

    print(f"\ninvocation, 1 KB in / 1 KB out; fixed rate {args.rate:.0f}/s (open loop) and saturation "
          f"(closed loop, concurrency {args.concurrency}); {args.seconds:.0f}s each\n")
    print(f"{'path':<30}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for direct, via in rows:
        for r in (direct, via):
            print(f"{r.name:<30}{r.ops:>9.0f}{r.pct(.5):>9.2f}{r.pct(.9):>9.2f}{r.pct(.99):>9.2f}{r.errors:>8}")
        print(f"{'  added by the sidecars':<30}{'':>9}{via.pct(.5) - direct.pct(.5):>9.2f}"
              f"{via.pct(.9) - direct.pct(.9):>9.2f}{via.pct(.99) - direct.pct(.99):>9.2f}")
        print(f"{'  throughput ratio via/direct':<30}{via.ops / direct.ops:>9.2f}")
    print("\nDapr's CI gate for this path: added p90 <= 2.0 ms at 1000 rps.")


if __name__ == "__main__":
    main()
