"""The toolkit's delivery loop, driven by a list-backed source: slots, batching, back-off, release at close."""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import pytest

from tandem.sidecar.components.pubsub import Message, PubSubError
from tandem.sidecar.components.subscription_loop import Backoff, LoopSettings, MessageSource, SubscriptionLoop

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def msg(n: int, redeliveries: int = 0) -> Message:
    return Message(topic="t", data=str(n).encode(), id=str(n), redeliveries=redeliveries)


class ListSource(MessageSource):
    """Messages in a deque; every call recorded so a test can check what the loop asked for."""

    def __init__(self, messages: Sequence[Message] = (), fail_fetches: int = 0) -> None:
        self.ready = deque(messages)
        self.fail_fetches = fail_fetches
        self.limits: list[int] = []
        self.acks: list[list[str]] = []
        self.nacks: list[list[tuple[str, float]]] = []
        self.released: list[tuple[list[str], bool]] = []
        self.closed = False

    async def fetch(self, limit: int) -> Sequence[Message]:
        self.limits.append(limit)
        if self.fail_fetches:
            self.fail_fetches -= 1
            raise PubSubError("broker down")
        return [self.ready.popleft() for _ in range(min(limit, len(self.ready)))]

    async def ack(self, messages: Sequence[Message]) -> None:
        self.acks.append([m.id for m in messages])

    async def nack(self, messages: Sequence[tuple[Message, float]]) -> None:
        self.nacks.append([(m.id, delay) for m, delay in messages])

    async def release(self, messages: Sequence[Message], *, started: bool) -> None:
        self.released.append(([m.id for m in messages], started))

    async def close(self) -> None:
        self.closed = True


class Gate:
    """A handler that waits for ``open`` and records how many calls ran at once."""

    def __init__(self, fail: bool = False) -> None:
        self.open = asyncio.Event()
        self.fail = fail
        self.running = 0
        self.max_running = 0
        self.seen: list[str] = []
        self.done: list[str] = []

    async def __call__(self, message: Message) -> None:
        self.seen.append(message.id)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await self.open.wait()
            if self.fail:
                raise RuntimeError("handler failed")
        finally:
            self.running -= 1
            self.done.append(message.id)


async def until(check: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


def settings(**changes: object) -> LoopSettings:
    return LoopSettings(**{"concurrency": 3, "poll_interval": 0.01, "errors": Backoff(0.001, 0.01), **changes})  # type: ignore[arg-type]


async def test_fetches_only_into_free_slots_and_never_exceeds_them() -> None:
    source, handler = ListSource([msg(i) for i in range(10)]), Gate()
    loop = SubscriptionLoop(source, handler, settings()).start()
    await until(lambda: len(handler.seen) == 3)
    assert source.limits[0] == 3 and all(limit <= 3 for limit in source.limits)
    handler.open.set()
    await until(lambda: sum(map(len, source.acks)) == 10)
    assert handler.max_running == 3
    await loop.close()


async def test_outcomes_finished_together_are_written_in_one_call() -> None:
    source, handler = ListSource([msg(i) for i in range(5)]), Gate()
    loop = SubscriptionLoop(source, handler, settings(concurrency=5)).start()
    await until(lambda: len(handler.seen) == 5)
    handler.open.set()
    await until(lambda: bool(source.acks))
    await loop.flush()
    assert source.acks == [["0", "1", "2", "3", "4"]]
    await loop.close()


async def test_a_failed_handler_is_nacked_with_the_back_off_of_its_redeliveries() -> None:
    source, handler = ListSource([msg(1, redeliveries=2)]), Gate(fail=True)
    handler.open.set()
    loop = SubscriptionLoop(source, handler, settings(retry=Backoff(0.05, 2.0))).start()
    await until(lambda: bool(source.nacks))
    assert source.nacks == [[("1", 0.2)]] and source.acks == []
    await loop.close()


async def test_without_retry_a_failure_waits_for_the_brokers_timeout() -> None:
    source, handler = ListSource([msg(1)]), Gate(fail=True)
    handler.open.set()
    loop = SubscriptionLoop(source, handler, settings(retry=None)).start()
    await until(lambda: handler.done == ["1"])
    await loop.flush()
    assert source.nacks == [] and source.acks == []
    await loop.close()


async def test_close_releases_waiting_and_running_messages_and_a_late_success_still_acks() -> None:
    source, handler = ListSource([msg(1)]), Gate()
    loop = SubscriptionLoop(source, handler, settings(concurrency=1)).start()
    await until(lambda: handler.seen == ["1"])
    loop.deliver([msg(2)])  # no free slot: it waits
    assert loop.waiting_ids == {"2"}
    await loop.close()
    assert source.released == [(["2"], False), (["1"], True)] and source.closed
    handler.open.set()
    await until(lambda: source.acks == [["1"]])
    assert handler.seen == ["1"]  # nothing started after close


async def test_a_late_failure_after_close_is_not_nacked() -> None:
    source, handler = ListSource([msg(1)]), Gate(fail=True)
    loop = SubscriptionLoop(source, handler, settings()).start()
    await until(lambda: handler.seen == ["1"])
    await loop.close()
    handler.open.set()
    await until(lambda: handler.done == ["1"])
    await loop.flush()
    assert source.nacks == []


async def test_a_failing_fetch_backs_off_and_recovers() -> None:
    source, handler = ListSource([msg(1)], fail_fetches=3), Gate()
    handler.open.set()
    loop = SubscriptionLoop(source, handler, settings()).start()
    await until(lambda: source.acks == [["1"]])
    assert len(source.limits) >= 4
    await loop.close()


async def test_recover_hands_stale_messages_to_the_handler() -> None:
    class Stale(ListSource):
        async def recover(self, limit: int) -> Sequence[Message]:
            return [msg(9, redeliveries=1)] if not self.acks else []

    source, handler = Stale(), Gate()
    handler.open.set()
    loop = SubscriptionLoop(source, handler, settings(recover_interval=0.01)).start()
    await until(lambda: source.acks == [["9"]])
    await loop.close()


async def test_an_event_driven_source_is_fetched_again_only_when_woken() -> None:
    source, handler = ListSource(), Gate()
    handler.open.set()
    loop = SubscriptionLoop(source, handler, settings(poll_interval=None)).start()
    await until(lambda: len(source.limits) == 1)
    source.ready.append(msg(1))
    loop.wake()
    await until(lambda: source.acks == [["1"]])
    await loop.close()


async def test_an_unexpected_fetch_error_does_not_end_the_subscription() -> None:
    class Buggy(ListSource):
        async def fetch(self, limit: int) -> Sequence[Message]:
            if not self.limits:
                self.limits.append(limit)
                raise KeyError("a driver bug")
            return await super().fetch(limit)

    source, handler = Buggy([msg(1)]), Gate()
    handler.open.set()
    loop = SubscriptionLoop(source, handler, settings()).start()
    await until(lambda: source.acks == [["1"]])
    await loop.close()


async def test_closing_a_loop_never_started_is_harmless() -> None:
    source = ListSource([msg(1)])
    await SubscriptionLoop(source, Gate(), settings()).close()
    assert source.closed and source.limits == []
