"""The order service of Dapr's hello-world, written with `tandem.App`.

    tandem run --app-id order --app-port 3000 -- python order_service.py

Other apps reach it by invocation through their own sidecar (``POST neworder``,
``GET order``); it keeps the latest order with the state API of its own sidecar
(store ``statestore``, key ``order``), so the order outlives the process.
"""
from __future__ import annotations

import os
from typing import Any

import uvicorn
from starlette.exceptions import HTTPException
from tandem import App, Client

STORE = "statestore"

app = App(app_id="order")


@app.method("neworder", methods=["POST"])
async def neworder(body: Any) -> None:
    """Store the order of Dapr's hello-world body, ``{"data": {"orderId": N}}``."""
    order = body.get("data") if isinstance(body, dict) else None
    if not isinstance(order, dict) or "orderId" not in order:
        raise HTTPException(400, 'expected a JSON body like {"data": {"orderId": 1}}')
    # A client per call keeps the example short; a busy service would share one.
    async with Client.from_env() as sidecar:
        await sidecar.save_state(STORE, "order", order)
    print(f"Got a new order! Order ID: {order['orderId']}", flush=True)


@app.method("order", methods=["GET"])
async def order() -> Any:
    """The stored order (204, no body, when there is none yet)."""
    async with Client.from_env() as sidecar:
        stored = await sidecar.get_state(STORE, "order")
    return stored.json() if stored else None


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("APP_PORT", 3000)), access_log=False)
