"""The rest of the toolkit under the contracts: the atomic state base, the TTL rule, abstract contracts, one error root."""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest

from tandem.sidecar.components import bindings, lock, nameresolution, placement, pubsub, secretstores, state
from tandem.sidecar.components.base import ComponentMetadata, DriverError
from tandem.sidecar.components.state import (
    AtomicStateStore,
    DeleteRequest,
    ETagMismatch,
    GetRequest,
    GetResponse,
    SetRequest,
    StateError,
    StateStore,
    TransactionOp,
    expire_time_metadata,
)
from tandem.sidecar.drivers.memory_state import MemoryStateStore
from tandem.sidecar.drivers.sqlite_state import SqliteStateStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class DictStore(AtomicStateStore):
    """What a plugin author writes: ``get`` and ``transact``, nothing else."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, str]] = {}
        self.transactions = 0

    async def init(self, metadata: ComponentMetadata) -> None:
        pass

    async def get(self, request: GetRequest) -> GetResponse | None:
        found = self.data.get(request.key)
        return None if found is None else GetResponse(found[0], etag=found[1])

    async def transact(self, operations: Sequence[TransactionOp]) -> None:
        self.transactions += 1
        staged = dict(self.data)
        for op in operations:
            if op.etag is not None and staged.get(op.key, (b"", None))[1] != op.etag:
                raise ETagMismatch(op.key)
            if isinstance(op, SetRequest):
                staged[op.key] = (op.value, str(self.transactions))
            else:
                staged.pop(op.key, None)
        self.data = staged


async def test_the_base_derives_every_write_from_transact() -> None:
    store = DictStore()
    await store.set(SetRequest("a", b"1"))
    await store.bulk_set([SetRequest("b", b"2"), SetRequest("c", b"3")])
    await store.delete(DeleteRequest("a"))
    await store.bulk_delete([DeleteRequest("b")])
    assert store.transactions == 4 and set(store.data) == {"c"}
    items = await store.bulk_get([GetRequest("c"), GetRequest("zz")])
    assert [(i.key, i.data) for i in items] == [("c", b"3"), ("zz", None)]


async def test_derived_bulk_writes_are_all_or_nothing() -> None:
    store = DictStore()
    with pytest.raises(ETagMismatch):
        await store.bulk_set([SetRequest("a", b"1"), SetRequest("b", b"2", etag="stale")])
    assert store.data == {}


def test_the_built_in_stores_write_only_get_and_transact() -> None:
    for driver in (MemoryStateStore, SqliteStateStore):
        assert issubclass(driver, AtomicStateStore)
        own = {name for name in ("set", "delete", "bulk_set", "bulk_delete") if name in vars(driver)}
        assert own == set(), f"{driver.__name__} still writes {own} itself"


@pytest.mark.parametrize(("ttl", "default", "expected"), [
    (None, None, None), (-1, None, None), (0, None, None), (5, None, 5), (None, 30, 30), (-1, 30, None),
])
def test_one_ttl_rule_in_the_request(ttl: int | None, default: int | None, expected: int | None) -> None:
    assert SetRequest("k", b"1", ttl=ttl).expires_in(default) == expected


def test_a_ttl_below_minus_one_is_a_state_error() -> None:
    with pytest.raises(StateError, match="must be -1 or greater"):
        SetRequest("k", b"1", ttl=-2).expires_in()


def test_one_ttl_expire_time_format() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)
    expected = {"ttlExpireTime": "2030-01-02T03:04:05Z"}
    assert expire_time_metadata(moment) == expected
    assert expire_time_metadata(moment.replace(tzinfo=None)) == expected  # naive means UTC
    assert expire_time_metadata(moment.astimezone(timezone(timedelta(hours=5)))) == expected
    assert expire_time_metadata(moment.timestamp()) == expected
    assert expire_time_metadata(None) == {}


CONTRACTS = {
    state.StateStore: {"init", "get", "set", "delete"},
    AtomicStateStore: {"init", "get", "transact"},
    pubsub.PubSub: {"init", "publish", "subscribe"},
    bindings.InputBinding: {"init", "read", "stop"},
    bindings.OutputBinding: {"init", "operations", "invoke"},
    lock.LockStore: {"init", "try_lock", "unlock"},
    secretstores.SecretStore: {"init", "get_secret", "bulk_get"},
    nameresolution.NameResolver: {"init", "resolve"},
}


@pytest.mark.parametrize("contract", list(CONTRACTS), ids=lambda c: c.__name__)
def test_every_method_a_driver_must_write_is_abstract(contract: type) -> None:
    assert set(contract.__abstractmethods__) == CONTRACTS[contract]
    assert inspect.isabstract(placement.PlacementStore)


def test_a_driver_missing_a_method_cannot_be_created() -> None:
    class HalfStore(StateStore):
        async def init(self, metadata: ComponentMetadata) -> None:
            pass

        async def get(self, request: GetRequest) -> GetResponse | None:
            return None

    with pytest.raises(TypeError, match="set"):
        HalfStore()  # type: ignore[abstract]


@pytest.mark.parametrize("error", [
    state.StateError, state.ETagMismatch, pubsub.PubSubError, bindings.BindingError, lock.LockError,
    placement.PlacementError, secretstores.SecretStoreError, secretstores.SecretNotFound,
])
def test_every_driver_failure_shares_one_root(error: type[Exception]) -> None:
    assert issubclass(error, DriverError)
