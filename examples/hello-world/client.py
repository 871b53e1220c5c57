"""The client of Dapr's hello-world: sends an order every second and reads it back.

    tandem run --app-id client -- python client.py --count 3

Every call goes through this app's own sidecar (``DAPR_HTTP_PORT``, set by ``tandem
run``), which finds the order service by its app id. The client starts after the last
order the service holds, so a second run shows that the orders were stored durably.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from tandem import Client, SidecarError
from tandem.client import SidecarResponse


class Failed(Exception):
    """A call that did not do what the hello-world expects."""


def _describe(reply: SidecarResponse) -> str:
    who = "the sidecar could not reach the app" if reply.invocation_failed else "the app answered"
    return f"{who}: HTTP {reply.status} {reply.body.decode('utf-8', 'replace').strip()}"


async def held_order(sidecar: Client, app_id: str) -> Any:
    """What the order service holds (None when nothing yet)."""
    reply = await sidecar.invoke(app_id, "order", http_verb="GET")
    if not reply.ok:
        raise Failed(f"GET order on app '{app_id}' failed; {_describe(reply)}")
    return reply.json()


async def run(app_id: str, count: int | None, interval: float) -> None:
    async with Client.from_env() as sidecar:
        await sidecar.wait_for_sidecar(timeout=30)
        held = await held_order(sidecar, app_id)
        last = held.get("orderId") if isinstance(held, dict) else None
        order_id = last if isinstance(last, int) else 0
        if held is not None:
            print(f"the order service already holds {json.dumps(held)}; continuing from there", flush=True)
        sent = 0
        while count is None or sent < count:
            if sent:
                await asyncio.sleep(interval)
            order_id += 1
            order = {"orderId": order_id}
            reply = await sidecar.invoke(app_id, "neworder", {"data": order})
            if not reply.ok:
                raise Failed(f"neworder {order_id} on app '{app_id}' failed; {_describe(reply)}")
            held = await held_order(sidecar, app_id)
            if held != order:
                raise Failed(f"order {order_id} sent, but the order service holds {json.dumps(held)}")
            print(f"order {order_id} stored; order service says it holds {json.dumps(held)}", flush=True)
            sent += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-id", default="order", help="the order service's app id (default: order)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between orders (default: 1)")
    parser.add_argument("--count", type=int, help="stop after this many orders (default: never)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args.app_id, args.count, args.interval))
    except (Failed, SidecarError) as exc:
        print(f"client: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
