"""``tandem dashboard``: a web page showing every running app, like ``dapr dashboard``."""
from __future__ import annotations

import asyncio

import click

__all__ = ["dashboard"]


@click.command()
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="The port to serve on (0: any free port).")
@click.option("--address", "-a", default="127.0.0.1", show_default=True,
              help="The address to listen on (keep loopback unless you mean to share it).")
def dashboard(port: int, address: str) -> None:
    """Serve the dashboard: apps, replicas, components, subscriptions, actors and logs, refreshed live."""
    from ..dashboard.server import serve

    try:
        asyncio.run(serve(address, port, lambda url: click.echo(f"Tandem dashboard on {url} (Ctrl-C to stop)")))
    except OSError as exc:
        hint = " (try --port 0 for any free port)" if port else ""
        raise click.ClickException(f"cannot serve on {address}:{port}: {exc.strerror or exc}{hint}") from None
