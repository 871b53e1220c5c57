"""The state building block: store lookup, key prefixing, TTL parsing, error mapping.

Routes hand it typed requests with the app's own keys; it prefixes the keys
(``keyPrefix`` rules of Dapr's ``state_config.go``), calls the driver, and turns
driver errors into :class:`DaprError` with Dapr's codes and statuses.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..components.base import ComponentMetadata, MetadataError
from ..components.state import (
    BulkGetItem,
    DeleteRequest,
    ETagInvalid,
    ETagMismatch,
    GetRequest,
    GetResponse,
    Query,
    QueryPage,
    SetRequest,
    StateError,
    StateFeature,
    StateStore,
    TransactionOp,
)
from ..errors import DaprError
from .base import Block, LoadedComponent

__all__ = ["StateBlock", "KEY_SEPARATOR", "key_prefix"]

KEY_SEPARATOR = "||"


def key_prefix(metadata: ComponentMetadata) -> str:
    """The prefix Dapr puts before every key of this store ('' for none)."""
    strategy = (metadata.get("keyPrefix") or "appid").strip()
    lowered = strategy.lower()
    if lowered == "appid":
        prefix = metadata.app_id
    elif lowered == "name":
        prefix = metadata.name
    elif lowered == "namespace":
        prefix = f"{metadata.namespace}.{metadata.app_id}" if metadata.namespace else metadata.app_id
    elif lowered == "none":
        prefix = ""
    else:
        prefix = lowered
    if KEY_SEPARATOR in prefix:
        raise MetadataError(f"keyPrefix {strategy!r} must not contain {KEY_SEPARATOR!r}")
    return prefix


@dataclass(frozen=True)
class _Store:
    name: str
    driver: StateStore
    prefix: str
    features: frozenset[str]

    def key(self, key: str) -> str:
        if KEY_SEPARATOR in key:
            raise DaprError(
                400, "ERR_MALFORMED_REQUEST",
                f"input key/keyPrefix '{key}' can't contain '{KEY_SEPARATOR}'",
                reason="DAPR_STATE_ILLEGAL_KEY",
            )
        return f"{self.prefix}{KEY_SEPARATOR}{key}" if self.prefix else key

    @property
    def query_prefix(self) -> str:
        """What every key of this app starts with in the store ('' when unprefixed)."""
        return f"{self.prefix}{KEY_SEPARATOR}" if self.prefix else ""

    def unkey(self, key: str) -> str:
        return key.split(KEY_SEPARATOR, 1)[1] if self.prefix and KEY_SEPARATOR in key else key


class StateBlock(Block):
    """All state stores of one sidecar, by component name."""

    contracts = (StateStore,)

    def __init__(self, app_id: str) -> None:
        self._app_id = app_id
        self._stores: dict[str, _Store] = {}

    def add(self, component: LoadedComponent) -> None:
        """MetadataError when the store's ``keyPrefix`` cannot be used."""
        driver, metadata = component.driver, component.metadata
        assert isinstance(driver, StateStore)
        self._stores[metadata.name] = _Store(metadata.name, driver, key_prefix(metadata), driver.features())

    def capabilities(self, component: LoadedComponent) -> frozenset[str]:
        """The driver's features, plus ``ACTOR`` for a store that could hold actor state (ETags and transactions)."""
        caps = set(component.driver.features())
        if {StateFeature.ETAG.value, StateFeature.TRANSACTIONAL.value} <= caps:
            caps.add(StateFeature.ACTOR.value)
        return frozenset(caps)

    def names(self) -> list[str]:
        return list(self._stores)

    def store(self, name: str) -> _Store:
        found = self._stores.get(name)
        if found is not None:
            return found
        if not self._stores:
            raise DaprError(500, "ERR_STATE_STORE_NOT_CONFIGURED", "state store is not configured",
                            reason="DAPR_STATE_NOT_CONFIGURED", metadata={"appID": self._app_id})
        raise DaprError(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {name} is not found",
                        reason="DAPR_STATE_NOT_FOUND", metadata={"appID": self._app_id})

    def check(self, name: str, feature: StateFeature | None = None) -> None:
        """Raise the error a call on store ``name`` (needing ``feature``) meets before its body is read.

        Dapr's order: an unknown store, or one lacking transactions or query, is
        reported before a malformed body.
        """
        store = self.store(name)
        if feature is not None and feature.value not in store.features:
            raise (self._query_unsupported(name) if feature is StateFeature.QUERY_API
                   else self._transactions_unsupported(name))

    async def get(self, name: str, request: GetRequest) -> GetResponse | None:
        store = self.store(name)
        try:
            return await store.driver.get(replace(request, key=store.key(request.key)))
        except StateError as exc:
            raise DaprError(500, "ERR_STATE_GET",
                            f"fail to get {request.key} from state store {name}: {exc}") from exc

    async def bulk_get(self, name: str, requests: Sequence[GetRequest]) -> list[BulkGetItem]:
        store = self.store(name)
        prefixed = [replace(r, key=store.key(r.key)) for r in requests]
        try:
            items = await store.driver.bulk_get(prefixed)
        except StateError as exc:
            raise DaprError(500, "ERR_STATE_BULK_GET",
                            f"failed getting state from state store {name}: {exc}") from exc
        return [replace(item, key=store.unkey(item.key)) for item in items]

    async def save(self, name: str, requests: Sequence[SetRequest]) -> None:
        store = self.store(name)
        prefixed = [replace(r, key=store.key(r.key)) for r in requests]
        if not prefixed:
            return
        try:
            if len(prefixed) == 1:
                await store.driver.set(prefixed[0])
            else:
                await store.driver.bulk_set(prefixed)
        except StateError as exc:
            raise _etag_error(exc, "ERR_STATE_SAVE", f"failed saving state in state store {name}") from exc

    async def delete(self, name: str, request: DeleteRequest) -> None:
        store = self.store(name)
        try:
            await store.driver.delete(replace(request, key=store.key(request.key)))
        except StateError as exc:
            raise _etag_error(exc, "ERR_STATE_DELETE", f"failed deleting state with key {request.key}") from exc

    async def transact(self, name: str, operations: Sequence[TransactionOp]) -> None:
        store = self.store(name)
        if StateFeature.TRANSACTIONAL.value not in store.features:
            raise self._transactions_unsupported(name)
        prefixed = [replace(op, key=store.key(op.key)) for op in operations]
        if not prefixed:
            return
        try:
            await store.driver.transact(prefixed)
        except StateError as exc:
            raise DaprError(500, "ERR_STATE_TRANSACTION", f"error while executing state transaction: {exc}") from exc

    async def query(self, name: str, query: Query) -> QueryPage:
        """Run a query over this app's keys only: the driver gets the app's key prefix."""
        store = self.store(name)
        if StateFeature.QUERY_API.value not in store.features:
            raise self._query_unsupported(name)
        try:
            page = await store.driver.query(query, store.query_prefix)
        except NotImplementedError:
            raise self._query_unsupported(name) from None
        except ValueError as exc:  # e.g. a page token this store cannot use
            raise DaprError(400, "ERR_MALFORMED_REQUEST", f"invalid query: {exc}") from exc
        except StateError as exc:
            raise DaprError(500, "ERR_STATE_QUERY", f"failed query in state store {name}: {exc}") from exc
        return replace(page, results=[replace(item, key=store.unkey(item.key)) for item in page.results])

    def _transactions_unsupported(self, name: str) -> DaprError:
        return DaprError(500, "ERR_STATE_STORE_NOT_SUPPORTED", f"state store {name} doesn't support transactions",
                         reason="DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED", metadata={"appID": self._app_id})

    def _query_unsupported(self, name: str) -> DaprError:
        return DaprError(500, "ERR_STATE_STORE_NOT_SUPPORTED", f"state store {name} doesn't support query",
                         reason="DAPR_STATE_QUERYING_NOT_SUPPORTED", metadata={"appID": self._app_id})


def _etag_error(exc: StateError, code: str, what: str) -> DaprError:
    if isinstance(exc, ETagMismatch):
        return DaprError(409, code, f"{what}: possible etag mismatch. error from state store: {exc}")
    if isinstance(exc, ETagInvalid):
        return DaprError(400, code, f"{what}: invalid etag value: {exc}")
    return DaprError(500, code, f"{what}: {exc}")


def merged(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` overridden by ``extra`` (query metadata wins over body metadata)."""
    return {**base, **extra} if extra else dict(base)
