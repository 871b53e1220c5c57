"""The order service of Dapr's hello-world, written with `tandem.App`.

    tandem run --app-id order --app-port 3000 -- python order_service.py

Other apps reach it by invocation through their own sidecar (``POST neworder``,
``GET order``); it keeps the latest order with the state API of its own sidecar
(store ``statestore``, key ``order``), so the order outlives the process.

The body is typed: ``NewOrder`` is a dataclass, so a body that does not fit
(``{"data": {"orderId": "one"}}``) is answered 400 with the field at fault before the
handler runs. The ``sidecar`` parameter receives the app's one client.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tandem import App, Client

STORE = "statestore"

app = App(app_id="order")


@dataclass
class Order:
    orderId: int  # noqa: N815 - the field name of Dapr's hello-world


@dataclass
class NewOrder:
    """Dapr's hello-world body, ``{"data": {"orderId": N}}``."""

    data: Order


@app.method("neworder", methods=["POST"])
async def neworder(body: NewOrder, sidecar: Client) -> None:
    """Store the new order."""
    await sidecar.save_state(STORE, "order", asdict(body.data))
    print(f"Got a new order! Order ID: {body.data.orderId}", flush=True)


@app.method("order", methods=["GET"])
async def order(sidecar: Client) -> Any:
    """The stored order (204, no body, when there is none yet)."""
    stored = await sidecar.get_state(STORE, "order")
    return stored.json() if stored else None


if __name__ == "__main__":
    app.run()  # on $APP_PORT, set by `tandem run --app-port`
