"""What the sidecar learns from its app, read once over the app channel.

``GET /dapr/config`` (actor types and their settings) and ``GET /dapr/subscribe``
(programmatic subscriptions) are read here, the first time a block asks, and
kept: each block takes what it needs in :meth:`Block.start
<tandem.sidecar.blocks.base.Block.start>`. A missing or unreadable answer is
logged and counts as "nothing declared", as in Dapr.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from .blocks.pubsub.subscriptions import SubscriptionError, SubscriptionSpec, from_app
from .channel import AppChannel

__all__ = ["AppConnector"]

log = logging.getLogger("tandem.sidecar")

_TIMEOUT = 10.0


class AppConnector:
    """The app as the blocks see it: the channel to it (None without ``--app-port``) and its declarations."""

    def __init__(self, app_id: str, channel: AppChannel | None) -> None:
        self.app_id = app_id
        self.channel = channel
        self.reachable = False
        self._config: dict[str, Any] | None = None
        self._subscriptions: list[SubscriptionSpec] | None = None

    async def wait_until_reachable(self) -> None:
        """Return once the app accepts connections (never, without a channel)."""
        if self.channel is None:
            raise RuntimeError("no app channel: the sidecar was started without an app port")
        await self.channel.wait_until_reachable()
        self.reachable = True

    async def config(self) -> dict[str, Any]:
        """The app's ``/dapr/config`` document; ``{}`` when it has none or it cannot be read."""
        if self._config is None:
            self._config = await self._read_config()
        return self._config

    async def subscriptions(self) -> list[SubscriptionSpec]:
        """The app's programmatic subscriptions (``/dapr/subscribe``); ``[]`` when none or unreadable."""
        if self._subscriptions is None:
            self._subscriptions = await self._read_subscriptions()
        return list(self._subscriptions)

    async def _read_config(self) -> dict[str, Any]:
        if self.channel is None:
            return {}
        try:
            reply = await self.channel.call("GET", "/dapr/config", timeout=_TIMEOUT,
                                            headers={"content-type": "application/json", "dapr-app-id": self.app_id})
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not read the app's /dapr/config: %s", exc)
            return {}
        if reply.status != 200:
            return {}
        try:
            doc = json.loads(reply.body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            log.warning("the app's /dapr/config is not a JSON object; no actor types")
            return {}
        return doc

    async def _read_subscriptions(self) -> list[SubscriptionSpec]:
        if self.channel is None:
            return []
        try:
            reply = await self.channel.call("GET", "/dapr/subscribe", timeout=_TIMEOUT,
                                            headers={"content-type": "application/json"})
            if reply.status == 200:
                return from_app(reply.body)
            if reply.status != 404:
                log.warning("the app's /dapr/subscribe answered %s; no programmatic subscriptions", reply.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not read the app's /dapr/subscribe: %s", exc)
        except SubscriptionError as exc:
            log.error("%s", exc)
        return []
