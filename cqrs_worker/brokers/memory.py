"""An in-memory :class:`~cqrs_worker.brokers.MessageBroker` for tests: :class:`InMemoryBroker`."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.errors import PublishError

__all__ = ["InMemoryBroker"]


@dataclass(frozen=True, slots=True, eq=False)
class _Waiter:
    count: int
    destination: str | None
    future: asyncio.Future[None]


class InMemoryBroker:
    """Keeps the last ``maxlen`` published messages, oldest first; publishes nothing anywhere.

    It follows the same contract as the real brokers: :meth:`publish` before
    :meth:`start` or after :meth:`close` raises
    :class:`~cqrs_worker.errors.PublishError`, and so does everything while
    :attr:`reachable` is false (set it to rehearse an outage). A batch is
    stored whole or not at all.
    """

    def __init__(self, *, maxlen: int = 10_000) -> None:
        self.reachable = True
        self._messages: deque[OutgoingMessage] = deque(maxlen=maxlen)
        self._counts: Counter[str] = Counter()
        self._waiters: list[_Waiter] = []
        self._started = False
        self._closed = False

    async def start(self) -> None:
        self._check_reachable()
        self._started = True
        self._closed = False

    async def publish(self, messages: Sequence[OutgoingMessage], /) -> None:
        if not self._started:
            # As the real brokers: started by the first publish, refused once closed.
            if self._closed:
                raise PublishError("the InMemoryBroker is closed; call start() to reopen it")
            await self.start()
        self._check_reachable()
        self._messages.extend(messages)
        self._counts.update(m.destination for m in messages)
        self._wake()

    async def close(self) -> None:
        self._started = False
        self._closed = True

    def messages(self, destination: str | None = None) -> list[OutgoingMessage]:
        """The retained messages (for ``destination``, or all), oldest first."""
        return [m for m in self._messages if destination is None or m.destination == destination]

    def published_count(self, destination: str | None = None) -> int:
        """How many messages were ever published (to ``destination``), evicted ones included."""
        return self._counts[destination] if destination is not None else self._counts.total()

    async def wait_for(
        self,
        count: int,
        *,
        destination: str | None = None,
        timeout: float = 5.0,  # its TimeoutError says how many arrived
    ) -> list[OutgoingMessage]:
        """Wait until ``count`` messages were published (to ``destination``); return the retained.

        Raises :class:`TimeoutError` saying how many arrived when ``timeout``
        seconds pass first.
        """
        if self.published_count(destination) < count:
            waiter = _Waiter(count, destination, asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(timeout):
                    await waiter.future
            except TimeoutError:
                where = f" to {destination!r}" if destination is not None else ""
                raise TimeoutError(
                    f"{self.published_count(destination)} of {count} messages were "
                    f"published{where} within {timeout}s"
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self.messages(destination)

    def clear(self) -> None:
        """Forget every message and count."""
        self._messages.clear()
        self._counts.clear()

    def _check_reachable(self) -> None:
        if not self.reachable:
            raise PublishError("the in-memory broker is unreachable (reachable=False)")

    def _wake(self) -> None:
        for waiter in [w for w in self._waiters if not w.future.done()]:
            if self.published_count(waiter.destination) >= waiter.count:
                waiter.future.set_result(None)
