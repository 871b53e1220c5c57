"""Hello, Tandem: an app that keeps its state through its sidecar.

    tandem run --app-id hello -- python examples/hello/hello.py

The app never talks to a database: it asks its sidecar (on ``DAPR_HTTP_PORT``,
set by ``tandem run``), and the sidecar stores the value in the ``statestore``
component — SQLite under ``~/.tandem`` after ``tandem init``.
"""
from __future__ import annotations

import asyncio

from tandem import Client


async def main() -> None:
    async with Client.from_env() as client:
        await client.wait_for_sidecar(timeout=30)
        previous = await client.get_state("statestore", "visits")
        count = (previous.json() if previous else 0) + 1
        await client.save_state("statestore", "visits", count,
                                etag=previous.etag if previous else None)
        saved = await client.get_state("statestore", "visits")
        assert saved is not None
        print(f"Hello from Tandem! This app has run {count} time(s).")
        print(f"The count lives in the 'statestore' state store (ETag {saved.etag}).")


if __name__ == "__main__":
    asyncio.run(main())
