"""``bindings.redis``: Dapr's Redis output binding — plain string keys, not the state store's hashes.

Every operation needs the request metadata ``key``:

* ``create`` — ``SET key <data>`` (the bytes as the runtime passes them); with
  ``ttlInSeconds`` the expiry is set in the same command (``SET … EX``);
* ``get`` — answers the value; a missing key answers an empty body, as Dapr
  does. ``delete: "true"`` reads and removes it at once (``GETDEL``);
* ``delete`` — ``DEL key``; succeeds whether the key existed or not;
* ``increment`` — ``INCR key`` (a missing key counts from 0); with
  ``ttlInSeconds`` the expiry is set in the same ``MULTI``.

``create``, ``delete`` and ``increment`` have no answer (the app gets a 204),
as in Dapr. Redis and socket errors become :class:`BindingError` naming the
server, through the plugin's shared :func:`~tandem_redis.connection.translate`.
"""
from __future__ import annotations

from collections.abc import Sequence

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import BindingError, InvokeRequest, InvokeResponse, OutputBinding

from .component import RedisComponent
from .connection import RedisSettings, translate

__all__ = ["RedisBinding"]

_OPERATIONS = ("create", "get", "delete", "increment")


def _ttl(metadata: dict[str, str]) -> int | None:
    """Dapr's ``ttlInSeconds``: a positive integer, or absent; checked before anything is written."""
    text = metadata.get("ttlInSeconds", "")
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BindingError(f"ttlInSeconds value must be a valid integer: actual is {text!r}") from None
    if value <= 0:
        raise BindingError(f"ttlInSeconds value must be higher than zero: actual is {value}")
    return value


class RedisBinding(RedisComponent, OutputBinding):
    """One client per component; each operation is a single round trip."""

    error = BindingError
    label = "redis binding"
    _name = ""

    def configure(self, metadata: ComponentMetadata, settings: RedisSettings) -> None:
        self._name = metadata.name

    def operations(self) -> Sequence[str]:
        return _OPERATIONS

    async def invoke(self, request: InvokeRequest) -> InvokeResponse | None:
        settings, client = self.connection()
        metadata = dict(request.metadata)
        key = metadata.get("key", "")
        if not key:
            raise BindingError(f"redis binding {self._name}: missing key in request metadata "
                               f"(operation {request.operation})")
        with translate(BindingError, f"redis binding {self._name}: {request.operation} {key!r}", settings):
            if request.operation == "create":
                await client.set(key, request.data, ex=_ttl(metadata))
                return None
            if request.operation == "get":
                if metadata.get("delete", "").lower() == "true":
                    value = await client.getdel(key)
                else:
                    value = await client.get(key)
                # Bytes: the client does not decode replies; a missing key is an empty answer.
                return InvokeResponse(value.encode() if isinstance(value, str) else (value or b""))
            if request.operation == "delete":
                await client.delete(key)
                return None
            if request.operation == "increment":
                ttl = _ttl(metadata)
                if ttl is None:
                    await client.incr(key)
                else:
                    async with client.pipeline(transaction=True) as pipe:
                        pipe.incr(key)
                        pipe.expire(key, ttl)
                        await pipe.execute()
                return None
        raise BindingError(f"invalid operation type: {request.operation}")
