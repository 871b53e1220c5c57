"""Subscriber 1, written with `tandem.App`: prints every order published to ``pubsub/orders``.

    tandem run --app-id subscriber --app-port 6001 -- python subscriber.py

``@app.topic`` lists the subscription on ``GET /dapr/subscribe``, where the sidecar reads
it at startup; the sidecar then POSTs each order as a CloudEvent to the handler's route.
Returning acknowledges the order; raising `Drop` discards it; any other exception makes
the sidecar deliver it again later.
"""
from __future__ import annotations

from tandem import App, CloudEvent, Drop

app = App(app_id="subscriber")


@app.topic("pubsub", "orders")
async def on_order(event: CloudEvent) -> None:
    """One order, ``{"orderId": N}``, in the CloudEvent the publisher's sidecar built."""
    order = event.data
    if not isinstance(order, dict) or "orderId" not in order:
        raise Drop(f"not an order: {order!r}")  # redelivering it would not make it one
    # The sidecar delivers several orders at once; an async handler prints them one whole line at a time.
    print(f"received order {order['orderId']} (event {event.id} from {event.source})", flush=True)


if __name__ == "__main__":
    app.run()  # on $APP_PORT, set by `tandem run --app-port`
