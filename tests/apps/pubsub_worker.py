"""A subscriber process for the pub/sub driver tests: records the id of every message it receives.

    python pubsub_worker.py DB TOPIC GROUP OUT

Each id is appended to OUT (one per line) before the handler returns, so an
acknowledged message was always recorded first, even if this process is
SIGKILLed. Prints ``ready`` once its subscription exists.
"""
from __future__ import annotations

import asyncio
import os
import sys

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.pubsub import Message, SubscribeRequest
from tandem.sidecar.drivers.sqlite_pubsub import SqlitePubSub


async def main(db: str, topic: str, group: str, out: str) -> None:
    broker = SqlitePubSub()
    props = {"connectionString": db, "processingTimeout": "1s", "pollInterval": "20ms"}
    await broker.init(ComponentMetadata(name="pubsub", type="pubsub.sqlite", properties=props))
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def handler(message: Message) -> None:
        await asyncio.sleep(0.001)  # in flight for a moment, so a kill catches some
        os.write(fd, f"{message.id}\n".encode())

    await broker.subscribe(SubscribeRequest(topic, group, concurrency=8), handler)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
