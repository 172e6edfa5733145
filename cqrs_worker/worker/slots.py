"""The concurrency slots of the lanes' workers: :class:`Slots`.

A slot is the right to run an attempt. Each worker task of
:class:`~cqrs_worker.worker.lanes.Lanes` holds one, except while its delivery
sleeps between two attempts (*resting*): then the slot is free for another
worker, and when the sleep ends the resting worker needs a slot again before
its next attempt. Woken workers come first, in the order they woke: a worker
that sees :attr:`Slots.waking` non-empty between two deliveries ends, and its
slot goes to the first of them (:meth:`Slots.grant`).

The bound holds: ``len(workers) - len(resting) <= concurrency`` at every
point a worker may start an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

__all__ = ["Slots"]

Worker = asyncio.Task[None]


class Slots:
    """Counts the slots of ``workers`` (the lanes' live set of worker tasks).

    ``freed`` is called when a worker starts resting (the lanes may start a
    worker for a ready lane then).
    """

    def __init__(self, workers: set[Worker], *, concurrency: int, freed: Callable[[], None]):
        self._workers = workers
        self._concurrency = concurrency
        self._freed = freed
        #: Workers whose delivery sleeps between attempts: they hold no slot.
        self.resting: set[Worker] = set()
        #: Resting workers whose sleep ended, waiting for a slot, in the order they woke.
        self.waking: deque[tuple[Worker, asyncio.Future[None]]] = deque()

    def free(self) -> bool:
        """Whether one more worker may hold a slot."""
        return len(self._workers) - len(self.resting) < self._concurrency

    async def rest(self, worker: Worker, delay: float) -> None:
        """Sleep ``delay`` seconds without ``worker``'s slot, then wait until it has one."""
        if asyncio.current_task() is not worker:  # a task the handlers started: holds no slot
            await asyncio.sleep(delay)
            return
        resting = self.resting
        resting.add(worker)
        try:
            self.grant()  # the slot goes to a woken worker first,
            self._freed()  # else maybe to a new one for a ready lane
            await asyncio.sleep(delay)
            if not self.free():
                entry = (worker, asyncio.get_running_loop().create_future())
                self.waking.append(entry)
                try:
                    await entry[1]  # grant() takes this worker out of resting first
                except asyncio.CancelledError:
                    with contextlib.suppress(ValueError):  # not granted yet
                        self.waking.remove(entry)
                    raise
        finally:
            resting.discard(worker)

    def grant(self) -> None:
        """Give the free slots to the woken workers; called whenever a worker gives one up."""
        waking, resting = self.waking, self.resting
        while waking and self.free():
            worker, waiter = waking.popleft()
            if not waiter.done():
                resting.discard(worker)
                waiter.set_result(None)

    def clear(self) -> None:
        """Forget every worker (the lanes cancelled them all)."""
        self.resting.clear()
        self.waking.clear()
