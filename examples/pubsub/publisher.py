"""The publisher: sends N orders to topic ``orders`` of pub/sub ``pubsub``, then exits.

    tandem run --app-id publisher -- python publisher.py --count 5

It only talks to its own sidecar (``DAPR_HTTP_PORT``, set by ``tandem run``): the sidecar
wraps each order in a CloudEvent (source = ``publisher``) and hands it to the broker, which
keeps it until every subscribing app has taken it. The publisher neither knows nor waits
for its subscribers.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from tandem import Client, SidecarError

PUBSUB, TOPIC = "pubsub", "orders"


async def run(count: int, interval: float, first: int) -> None:
    async with Client.from_env() as sidecar:
        await sidecar.wait_for_sidecar(timeout=30)
        for order_id in range(first, first + count):
            if order_id != first:
                await asyncio.sleep(interval)
            await sidecar.publish(PUBSUB, TOPIC, {"orderId": order_id})
            print(f"published order {order_id}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5, help="orders to publish (default: 5)")
    parser.add_argument("--first", type=int, default=1, help="id of the first order (default: 1)")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between orders (default: 0)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args.count, args.interval, args.first))
    except SidecarError as exc:
        print(f"publisher: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
