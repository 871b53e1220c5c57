"""One delivery loop for every pub/sub driver: a broker supplies fetch/ack/nack, the loop does the rest.

A driver's :meth:`.PubSub.subscribe` builds a :class:`MessageSource` for the
subscription and returns ``SubscriptionLoop(source, settings).start()``. The
loop then owns what every at-least-once broker needs and used to write again:

* **concurrency slots**: at most ``settings.concurrency`` handler calls at once;
  it fetches only as many messages as it has free slots (a handler that hangs
  keeps its slot until it returns);
* **ack/nack batching**: outcomes are written by one flusher at a time that takes
  every outcome finished meanwhile (one round trip for many messages, no added
  delay), retried with back-off when the broker is down;
* **back-off**: a message whose handler raised is nacked with the delay
  ``settings.retry.delay(message.redeliveries)``; a failing fetch backs off
  with ``settings.errors``;
* **redelivery on close**: messages fetched but not started, and those whose
  handler is still running, are released at once (no back-off) so another
  subscriber gets them; a late success is still acknowledged.

What stays the driver's: where messages live and how a lease expires (the
processing timeout is a property of the storage: a lease column, a timer, a
pending-entries list), and, for brokers that need it, claiming stale messages
of dead subscribers (:meth:`MessageSource.recover`).
"""
from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from .base import DriverError
from .pubsub import Message, MessageHandler, Subscription

__all__ = ["Backoff", "LoopSettings", "MessageSource", "SubscriptionLoop", "stop_tasks"]

log = logging.getLogger(__name__)

_GIVE_UP_AFTER = 10  # failed attempts to write outcomes; then the leases bring the messages back


@dataclass(frozen=True)
class Backoff:
    """``initial`` seconds, doubled per attempt, never above ``maximum``."""

    initial: float = 0.05
    maximum: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.initial * 2.0 ** min(attempt, 30), self.maximum)


@dataclass(frozen=True)
class LoopSettings:
    """How one subscription's loop runs."""

    #: Handler calls in flight at once (the runtime's ``SubscribeRequest.concurrency``).
    concurrency: int = 10
    #: Delay before a failed message is deliverable again; ``None``: never nacked (the
    #: broker's processing timeout brings it back).
    retry: Backoff | None = Backoff(0.05, 2.0)
    #: Seconds between fetches while idle; ``None``: wait until :meth:`SubscriptionLoop.wake`
    #: (an event-driven broker), ``0``: fetch again at once (a fetch that blocks by itself).
    poll_interval: float | None = 0.05
    #: Back-off of a failing fetch or outcome write.
    errors: Backoff = Backoff(0.05, 2.0)
    #: Seconds between calls of :meth:`MessageSource.recover`; ``0`` never calls it.
    recover_interval: float = 0.0
    #: Bound on what :meth:`SubscriptionLoop.close` waits for (outcomes, an interrupted fetch).
    close_timeout: float = 5.0


class MessageSource(abc.ABC):
    """What a broker implements for one subscription; every method may raise :class:`.DriverError`.

    Messages keep their ``id`` for the broker to find them again in ``ack``/``nack``/``release``.
    """

    #: ``True`` when ``fetch`` can wait long (a blocking read): ``close`` cancels it then,
    #: instead of waiting for it to return (its messages stay leased until they time out).
    interruptible: bool = False

    @abc.abstractmethod
    async def fetch(self, limit: int) -> Sequence[Message]:
        """Lease up to ``limit`` deliverable messages; ``[]`` when there are none now."""

    @abc.abstractmethod
    async def ack(self, messages: Sequence[Message]) -> None:
        """Their handlers returned: remove them (a late one too, unless another holds it now)."""

    @abc.abstractmethod
    async def nack(self, messages: Sequence[tuple[Message, float]]) -> None:
        """Their handlers raised: deliverable again after the delay paired with each."""

    async def release(self, messages: Sequence[Message], *, started: bool) -> None:
        """Hand messages back at once at close; ``started``: their handler ran (counts as a delivery).

        The default nacks them with no delay.
        """
        await self.nack([(message, 0.0) for message in messages])

    async def recover(self, limit: int) -> Sequence[Message]:  # noqa: B027 - optional hook
        """Claim up to ``limit`` messages left by dead subscribers; called every ``recover_interval``."""
        return ()

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the source holds (connections, registrations); after every outcome is written."""


class SubscriptionLoop(Subscription):
    """A running subscription: fetch into free slots, call the handler, batch the outcomes."""

    def __init__(self, source: MessageSource, handler: MessageHandler, settings: LoopSettings,
                 name: str = "subscription") -> None:
        self.source = source
        self.settings = settings
        self.name = name
        self._handler = handler
        self._limit = max(1, settings.concurrency)
        self._backlog: deque[Message] = deque()  # fetched or delivered, waiting for a slot
        self._running: dict[asyncio.Task[None], Message] = {}
        self._released: set[str] = set()  # ids handed back at close: their late failure is not nacked
        self._acks: list[Message] = []
        self._nacks: list[tuple[Message, float]] = []
        self._woken = asyncio.Event()
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.closed = False

    # -- the public face ------------------------------------------------------------

    def start(self) -> SubscriptionLoop:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._fetch_loop(), name=f"{self.name}-fetch"))
        if self.settings.recover_interval > 0:
            self._tasks.append(loop.create_task(self._recover_loop(), name=f"{self.name}-recover"))
        return self

    def wake(self) -> None:
        """Fetch now instead of at the next poll (a local publish, a lease that expired)."""
        self._woken.set()

    def deliver(self, messages: Sequence[Message]) -> None:
        """Queue messages the source obtained itself (a retry it re-claimed); they wait for a slot."""
        if self.closed:
            return
        self._backlog.extend(messages)
        self._start_ready()

    @property
    def waiting_ids(self) -> set[str]:
        """Ids of messages held here but not yet started."""
        return {message.id for message in self._backlog}

    @property
    def running(self) -> int:
        return len(self._running)

    async def close(self) -> None:
        """Stop fetching; write finished outcomes; hand back what is waiting or running."""
        if self.closed:
            return
        self.closed = True
        self._woken.set()
        self._room.set()
        fetcher, others = self._tasks[:1], self._tasks[1:]  # no tasks if it was never started
        stop = [*others, *fetcher] if self.source.interruptible else others
        # A fetch that is not cancelled hands what it returns back itself (see _fetch_loop).
        await _finish(self._tasks, stop, self.settings.close_timeout, self.name)
        waiting = list(self._backlog)
        self._backlog.clear()
        await self._release(waiting, started=False)
        await self.flush()
        await self._release(list(self._running.values()), started=True)
        await self._quietly(self.source.close(), "closing")

    async def flush(self) -> None:
        """Wait (bounded) until the outcomes of returned handlers are written."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.wait([flusher], timeout=self.settings.close_timeout)

    async def cancel_handlers(self) -> None:
        """Cancel handler calls still running (the broker is closing); they stay unacknowledged."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.flush()

    # -- fetching -------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        failures = 0
        while not self.closed:
            room = self._limit - len(self._running) - len(self._backlog)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            self._woken.clear()
            try:
                fetched = list(await self.source.fetch(room))
            except Exception as exc:  # a driver bug must not end the subscription silently either
                failures += 1
                (log.warning if failures == 1 else log.debug)("%s: fetching failed: %s", self.name, exc,
                                                              exc_info=not isinstance(exc, DriverError))
                fetched = []
            else:
                if failures:
                    log.info("%s: fetching works again", self.name)
                failures = 0
            if self.closed:  # closed while fetching: hand them back untouched
                await self._release(fetched, started=False)
                return
            self._backlog.extend(fetched)
            self._start_ready()
            if failures:
                await self._idle(self.settings.errors.delay(failures - 1))
            elif len(fetched) < room:
                await self._idle(self.settings.poll_interval)

    async def _idle(self, seconds: float | None) -> None:
        """Wait until woken, or ``seconds`` (``None``: no time limit)."""
        if seconds == 0:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)

    async def _recover_loop(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.settings.recover_interval)
            room = self._limit - len(self._running) - len(self._backlog)
            if self.closed or room <= 0:
                continue
            try:
                self.deliver(await self.source.recover(room))
            except Exception as exc:
                log.debug("%s: recovering stale messages failed: %s", self.name, exc)

    # -- handling -------------------------------------------------------------------

    def _start_ready(self) -> None:
        loop = asyncio.get_running_loop()
        while self._backlog and len(self._running) < self._limit and not self.closed:
            message = self._backlog.popleft()
            task = loop.create_task(self._call(message))
            self._running[task] = message

    async def _call(self, message: Message) -> None:
        ok = False
        try:
            await self._handler(message)
            ok = True
        except Exception as exc:  # the handler's failure means "deliver again"
            log.debug("%s: handler failed for message %s: %r", self.name, message.id, exc)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._running.pop(task, None)
            self._record(message, ok)
            self._room.set()
            self._start_ready()

    def _record(self, message: Message, ok: bool) -> None:
        if ok:
            self._acks.append(message)
        elif message.id in self._released or self.settings.retry is None:
            return
        else:
            self._nacks.append((message, self.settings.retry.delay(message.redeliveries)))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    # -- outcomes -------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        failures = 0
        while self._acks or self._nacks:
            acks, nacks, self._acks, self._nacks = self._acks, self._nacks, [], []
            try:
                if acks:
                    await self.source.ack(acks)
                    acks = []
                if nacks:
                    await self.source.nack(nacks)
                failures = 0
            except Exception as exc:
                # Not lost: an unwritten outcome only means one more delivery once the lease ends.
                failures += 1
                log.warning("%s: recording %d outcomes failed: %s", self.name, len(acks) + len(nacks), exc)
                if failures >= _GIVE_UP_AFTER:
                    return
                self._acks[:0], self._nacks[:0] = acks, nacks
                await asyncio.sleep(self.settings.errors.delay(failures))

    async def _release(self, messages: list[Message], *, started: bool) -> None:
        if not messages:
            return
        self._released.update(message.id for message in messages)
        await self._quietly(self.source.release(messages, started=started), f"releasing {len(messages)} message(s)")

    async def _quietly(self, call: object, what: str) -> None:
        """Await ``call`` within the close timeout; a failure is logged (leases bring messages back)."""
        try:
            await asyncio.wait_for(call, self.settings.close_timeout)  # type: ignore[arg-type]
        except Exception as exc:  # DriverError, a timeout, or a driver's bug: close goes on regardless
            log.warning("%s: %s failed: %s", self.name, what, exc)


async def _finish(tasks: Sequence[asyncio.Task[None]], stop: Sequence[asyncio.Task[None]], timeout: float,
                  name: str) -> None:
    """Wait for ``tasks``, cancelling those in ``stop`` again and again until they end.

    A client library can swallow a cancellation (redis-py's ``wait_for`` around
    socket writes on Python 3.11), so one ``cancel()`` is not always enough.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pending = [t for t in tasks if not t.done()]
    while pending and loop.time() < deadline:
        for task in pending:
            if task in stop:
                task.cancel()
        await asyncio.wait(pending, timeout=0.05)
        pending = [t for t in pending if not t.done()]
    if pending:
        log.warning("%s: %d task(s) did not stop within %.1fs", name, len(pending), timeout)


async def stop_tasks(tasks: Sequence[asyncio.Task[None]], timeout: float, name: str) -> None:
    """Cancel ``tasks`` and wait (at most ``timeout``) until they end, cancelling again as needed."""
    await _finish(tasks, tasks, timeout, name)
