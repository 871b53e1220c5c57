"""Pub/sub on the embedded broker: publish → handler, through two sidecars vs in-process.

    python bench/pubsub.py [--messages 3000] [--concurrency 16]

Baseline: the same ``pubsub.sqlite`` driver in this process, a handler counting
messages. Measured: an app publishing through its sidecar (HTTP), the broker file,
the subscriber's sidecar delivering to a bare ASGI app. Both report the end-to-end
rate (first publish to last delivery) and publish→handler latency percentiles.
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
from pathlib import Path

from common import Result, free_port, publish_and_collect, start_tandemd, wait_http
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.pubsub import Message, PublishRequest, PubSub, SubscribeRequest
from tandem.sidecar.plugins import component_registry, plugin_manager


async def in_process(folder: Path, messages: int, concurrency: int) -> Result:
    driver = component_registry(plugin_manager()).lookup("pubsub.sqlite").create()
    assert isinstance(driver, PubSub)
    await driver.init(ComponentMetadata("pubsub", "pubsub.sqlite", app_id="bench",
                                        properties={"connectionString": str(folder / "direct.db")}))
    latencies: list[float] = []
    done = asyncio.Event()

    async def handler(message: Message) -> None:
        latencies.append(time.time() - json.loads(message.data)["t"])
        if len(latencies) >= messages:
            done.set()

    sub = await driver.subscribe(SubscribeRequest("bench", "bench", {}, 16), handler)
    began = time.perf_counter()
    counter = iter(range(messages))

    async def publisher() -> None:
        for n in counter:
            await driver.publish(PublishRequest("bench", json.dumps({"n": n, "t": time.time()}).encode()))

    await asyncio.gather(*(publisher() for _ in range(concurrency)))
    await asyncio.wait_for(done.wait(), 120)
    took = time.perf_counter() - began
    await sub.close()
    await driver.close()
    return Result("in-process pubsub.sqlite", latencies, took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        direct = asyncio.run(in_process(folder, args.messages, args.concurrency))
        components = folder / "components"
        components.mkdir()
        (components / "pubsub.yaml").write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: pubsub}\n"
            f"spec:\n  type: pubsub.sqlite\n  version: v1\n  metadata:\n"
            f"  - {{name: connectionString, value: '{folder / 'broker.db'}'}}\n")
        app_port = free_port()
        app = subprocess.Popen([sys.executable, str(Path(__file__).with_name("subscriber_app.py")), str(app_port)])
        procs: list[subprocess.Popen[bytes]] = [app]
        try:
            wait_http(f"http://127.0.0.1:{app_port}/stats", app)
            sub, sub_url, _ = start_tandemd(folder, "subscriber", "--resources-path", str(components),
                                            "--app-port", str(app_port))
            procs.append(sub)
            pub, pub_url, _ = start_tandemd(folder, "publisher", "--resources-path", str(components))
            procs.append(pub)
            while True:  # the subscription starts once the sidecar has read /dapr/subscribe
                with urllib.request.urlopen(sub_url + "/v1.0/metadata") as reply:
                    if json.loads(reply.read())["subscriptions"]:
                        break
                time.sleep(0.05)
            via = asyncio.run(publish_and_collect(pub_url, f"http://127.0.0.1:{app_port}", "bench", args.messages,
                                                  args.concurrency, "via 2 sidecars"))
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(15)
    print(f"\npub/sub on pubsub.sqlite, {args.messages} messages, {args.concurrency} concurrent publishers\n")
    print(f"{'path':<28}{'msg/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'lost':>6}")
    for r in (direct, via):
        print(f"{r.name:<28}{r.ops:>9.0f}{r.pct(.5):>9.2f}{r.pct(.9):>9.2f}{r.pct(.99):>9.2f}{r.errors:>6}")
    print(f"{'ratio via / in-process':<28}{via.ops / direct.ops:>9.2f}{via.pct(.5) / direct.pct(.5):>9.1f}"
          f"{via.pct(.9) / direct.pct(.9):>9.1f}{via.pct(.99) / direct.pct(.99):>9.1f}")


if __name__ == "__main__":
    main()
