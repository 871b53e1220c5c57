"""Built-in pub/sub brokers beyond the conformance kit (test_conformance_builtin.py): fairness, back-off,
immediate release on close, metadata validation, and SQLite's durability across processes."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.pubsub import (
    BulkPublishEntry,
    PublishRequest,
    PubSub,
    SubscribeRequest,
)
from tandem.sidecar.conformance.pubsub import Inbox
from tandem.sidecar.drivers.memory_pubsub import MemoryPubSub
from tandem.sidecar.drivers.sqlite_pubsub import SqlitePubSub

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).resolve().parents[2] / "apps" / "pubsub_worker.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def open_broker(kind: str, path: Path | None = None, **props: str) -> PubSub:
    broker: PubSub
    if kind == "memory":
        broker = MemoryPubSub()
    else:
        broker = SqlitePubSub()
        props.setdefault("connectionString", str(path))
    await broker.init(ComponentMetadata(name="pubsub", type=f"pubsub.{kind}", properties=props))
    return broker


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def broker(kind: str, tmp_path: Path) -> AsyncIterator[PubSub]:
    b = await open_broker(kind, tmp_path / "pubsub.db")
    yield b
    await b.close()


def sub(topic: str = "orders", group: str = "app", concurrency: int = 10) -> SubscribeRequest:
    return SubscribeRequest(topic=topic, consumer_group=group, concurrency=concurrency)


async def publish_many(broker: PubSub, count: int, topic: str = "orders", start: int = 0) -> None:
    for i in range(start, start + count):
        await broker.publish(PublishRequest(topic, f"m{i}".encode()))


# -- both built-in brokers, beyond the contract ----------------------------------------


async def test_members_of_a_group_take_turns(broker: PubSub) -> None:
    a, b = Inbox(delay=0.01), Inbox(delay=0.01)
    await broker.subscribe(sub(concurrency=2), a)
    await broker.subscribe(sub(concurrency=2), b)
    await broker.bulk_publish([BulkPublishEntry(str(i), PublishRequest("orders", f"m{i}".encode()))
                               for i in range(40)])
    deadline = time.monotonic() + 5
    while len(a.messages) + len(b.messages) < 40 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert len(a.ids + b.ids) == len(set(a.ids + b.ids)) == 40
    assert a.messages and b.messages  # neither member starves


async def test_a_group_created_later_starts_from_then(broker: PubSub) -> None:
    early = Inbox()
    await broker.subscribe(sub(group="early"), early)
    await publish_many(broker, 3)
    late = Inbox()
    await broker.subscribe(sub(group="late"), late)
    await publish_many(broker, 2, start=3)
    await early.wait_for(5)
    await late.wait_for(2)
    await asyncio.sleep(0.1)
    assert late.payloads == [b"m3", b"m4"]


async def test_a_raise_redelivers_with_back_off(broker: PubSub) -> None:
    inbox = Inbox(fail=2)
    await broker.subscribe(sub(), inbox)
    started = time.monotonic()
    await broker.publish(PublishRequest("orders", b"x"))
    msgs = await inbox.wait_for(3)
    assert time.monotonic() - started >= 0.14  # 50ms, then 100ms of back-off
    assert [m.redeliveries for m in msgs] == [0, 1, 2]


async def test_concurrency_limit_is_used_in_full(broker: PubSub) -> None:
    inbox = Inbox(delay=0.02)
    await broker.subscribe(sub(concurrency=3), inbox)
    await publish_many(broker, 30)
    await inbox.wait_for(30)
    assert inbox.max_running == 3


async def test_close_hands_in_flight_messages_back_at_once(broker: PubSub) -> None:
    gate = anyio.Event()
    first = Inbox(block=gate)
    subscription = await broker.subscribe(sub(), first)
    await publish_many(broker, 2)
    await first.wait_for(2)
    await subscription.close()
    await broker.publish(PublishRequest("orders", b"after close"))
    second = Inbox()
    await broker.subscribe(sub(), second)
    await second.wait_for(3, timeout=2)  # well before the 60s processing timeout
    assert second.payloads == [b"after close", b"m0", b"m1"]
    assert len(first.messages) == 2
    gate.set()


async def test_bad_metadata_names_the_field(kind: str) -> None:
    with pytest.raises(MetadataError, match="processingTimeout"):
        await open_broker(kind, Path("unused.db"), processingTimeout="soon")
    with pytest.raises(MetadataError, match="processingTimeout"):
        await open_broker(kind, Path("unused.db"), processingTimeout="0")


# -- SQLite: durability, processes, housekeeping ------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("connectionString", ""), ("tableName", "bad-name; DROP TABLE x"), ("pollInterval", "0"),
    ("retentionPeriod", "-1s"), ("maxRedeliveryBackoff", "later"), ("busyTimeout", "-5ms"), ("timeout", "0.5s"),
])
async def test_sqlite_bad_metadata_names_the_field(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(MetadataError, match=field):
        await open_broker("sqlite", tmp_path / "x.db", **{field: value})


async def test_features() -> None:
    assert SqlitePubSub().features() == frozenset({"BULK_PUBLISH"})
    assert MemoryPubSub().features() == frozenset()


async def test_sqlite_local_publish_wakes_subscribers_at_once(tmp_path: Path) -> None:
    broker = await open_broker("sqlite", tmp_path / "p.db", pollInterval="10s")
    try:
        inbox = Inbox()
        await broker.subscribe(sub(), inbox)
        await asyncio.sleep(0.05)  # the first poll is done: now it sleeps for 10s
        started = time.monotonic()
        await broker.publish(PublishRequest("orders", b"now"))
        await inbox.wait_for(1, timeout=1)
        assert time.monotonic() - started < 0.5
    finally:
        await broker.close()


async def test_sqlite_group_survives_restarts_of_every_member(tmp_path: Path) -> None:
    """Two brokers on one file stand for two sidecar processes."""
    db = tmp_path / "shared.db"
    subscriber = await open_broker("sqlite", db)
    subscription = await subscriber.subscribe(sub(), Inbox())
    await subscription.close()
    await subscriber.close()  # every member of the group is gone
    publisher = await open_broker("sqlite", db)
    await publish_many(publisher, 10)
    await publisher.bulk_publish([BulkPublishEntry("b", PublishRequest("orders", b"bulk", {"k": "v"}))])
    await publisher.close()
    reopened = await open_broker("sqlite", db)  # the file is all that is left
    try:
        inbox = Inbox()
        await reopened.subscribe(sub(), inbox)
        await inbox.wait_for(11)
        assert inbox.payloads == sorted([b"bulk"] + [f"m{i}".encode() for i in range(10)])
        assert [dict(m.metadata) for m in inbox.messages if m.data == b"bulk"] == [{"k": "v"}]
    finally:
        await reopened.close()


async def test_sqlite_two_brokers_share_a_group(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    one, two = await open_broker("sqlite", db), await open_broker("sqlite", db)
    try:
        a, b = Inbox(delay=0.005), Inbox(delay=0.005)
        await one.subscribe(sub(concurrency=2), a)
        await two.subscribe(sub(concurrency=2), b)
        await publish_many(one, 60)
        deadline = time.monotonic() + 10
        while len(a.messages) + len(b.messages) < 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert sorted(a.ids + b.ids, key=int) == sorted({*a.ids, *b.ids}, key=int)  # no message twice
        assert len(a.ids) + len(b.ids) == 60 and a.messages and b.messages
    finally:
        await one.close()
        await two.close()


async def test_sqlite_bulk_publish_reports_only_bad_entries(tmp_path: Path) -> None:
    broker = await open_broker("sqlite", tmp_path / "p.db")
    try:
        inbox = Inbox()
        await broker.subscribe(sub(), inbox)
        entries = [BulkPublishEntry("1", PublishRequest("orders", b"one")),
                   BulkPublishEntry("2", PublishRequest("orders", "not bytes")),
                   BulkPublishEntry("3", PublishRequest("orders", b"three"))]
        failed = await broker.bulk_publish(entries)
        assert [f.entry_id for f in failed] == ["2"]
        await inbox.wait_for(2)
        assert inbox.payloads == [b"one", b"three"]
    finally:
        await broker.close()


def count_rows(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        value: int = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return value


async def test_sqlite_retention(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    eager = await open_broker("sqlite", db, retentionPeriod="0", tableName="eager")
    keeper = await open_broker("sqlite", db, retentionPeriod="1ms", cleanupInterval="1h", tableName="keeper")
    try:
        for broker in (eager, keeper):
            inbox = Inbox()
            await broker.subscribe(sub(), inbox)
            await publish_many(broker, 5)
            await inbox.wait_for(5)
            await asyncio.sleep(0.2)  # the acknowledgements are written
        assert count_rows(db, "eager_messages") == 0  # deleted on the acknowledgement of the last group
        assert count_rows(db, "keeper_messages") == 5
        assert isinstance(keeper, SqlitePubSub)
        await keeper.publish(PublishRequest("orders", b"unacknowledged"))
        assert await keeper.cleanup_acknowledged() == 5
        assert await keeper.cleanup_acknowledged() == -1  # another turn only after cleanupInterval
        assert count_rows(db, "keeper_messages") == 1
    finally:
        await eager.close()
        await keeper.close()


def read_ids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def start_worker(db: Path, out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(WORKER), str(db), "orders", "app", str(out)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


async def test_sqlite_sigkilled_subscriber_loses_nothing(tmp_path: Path) -> None:
    db, first_out, second_out = tmp_path / "p.db", tmp_path / "first.ids", tmp_path / "second.ids"
    total = 2000
    publisher = await open_broker("sqlite", db)
    first = await asyncio.to_thread(start_worker, db, first_out)
    second: subprocess.Popen[str] | None = None
    try:
        for i in range(0, total // 2, 10):
            entries = [BulkPublishEntry(str(j), PublishRequest("orders", b"x")) for j in range(10)]
            assert await publisher.bulk_publish(entries) == []
            await asyncio.sleep(0.002)
            if i == 200:  # mid-stream: make sure it has been receiving for a while
                deadline = time.monotonic() + 10
                while len(read_ids(first_out)) < 50:
                    assert time.monotonic() < deadline and first.poll() is None, "the worker receives nothing"
                    await asyncio.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        seen_by_first = set(read_ids(first_out))
        assert 0 < len(seen_by_first) < total
        await publish_many(publisher, total // 2)
        second = await asyncio.to_thread(start_worker, db, second_out)
        deadline = time.monotonic() + 30
        while len(seen_by_first | set(read_ids(second_out))) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        received = seen_by_first | set(read_ids(second_out))
        assert received == set(range(1, total + 1)), f"lost {total - len(received)} messages"
        duplicates = sum(n - 1 for n in Counter(read_ids(first_out) + read_ids(second_out)).values())
        assert duplicates < 100  # only those in flight at the kill
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc is not None and proc.stdout is not None:
                proc.stdout.close()
        await publisher.close()


async def test_the_broker_delivers_through_the_toolkits_loop(broker: PubSub) -> None:
    from tandem.sidecar.components.subscription_loop import SubscriptionLoop

    subscription = await broker.subscribe(sub(), Inbox())
    assert isinstance(subscription, SubscriptionLoop)
    await subscription.close()
