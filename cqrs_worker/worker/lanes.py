"""Per-key ordering with bounded concurrency: the :class:`Lanes` scheduler.

Deliveries with the same ``lane`` run one after another in submission order;
different lanes run concurrently, at most ``concurrency`` at a time. A lane is
drained by one task, started when its first delivery arrives and ended when it
runs dry, so the cost is one task per busy lane, not one per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable

from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.pipeline import Pipeline

__all__ = ["Lanes"]

logger = logging.getLogger(__name__)

#: Deliveries a lane handles before it lets a waiting lane have its slot.
_FAIRNESS = 256


class Lanes:
    """Runs ``pipeline`` for submitted deliveries; calls ``on_done`` for each that finished.

    ``on_done`` is not called for a delivery whose pipeline was cancelled, so
    it is never acknowledged. An unexpected exception (a bug: the pipeline
    only raises ``CancelledError``) is logged and the delivery tried again
    after ``error_delay`` seconds, keeping its place in the lane.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        on_done: Callable[[Delivery], None],
        *,
        concurrency: int,
        error_delay: float = 1.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._pipeline = pipeline
        self._on_done = on_done
        self._concurrency = concurrency
        self._error_delay = error_delay
        self._queues: dict[Hashable, deque[Delivery]] = {}
        self._waiting: deque[Hashable] = deque()
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._running: dict[Hashable, Delivery] = {}
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Deliveries submitted and not yet finished (queued or running)."""
        return self._pending

    def submit(self, delivery: Delivery) -> None:
        lane = delivery.lane
        queue = self._queues.get(lane)
        self._pending += 1
        self._idle.clear()
        if queue is not None:
            queue.append(delivery)
            return
        self._queues[lane] = deque((delivery,))
        if len(self._tasks) < self._concurrency:
            self._start(lane)
        else:
            self._waiting.append(lane)

    def discard(self, predicate: Callable[[Delivery], bool]) -> int:
        """Drop queued (not yet running) deliveries matching ``predicate``; they are never acked."""
        dropped = 0
        for queue in self._queues.values():
            keep = [d for d in queue if not predicate(d)]
            dropped += len(queue) - len(keep)
            queue.clear()
            queue.extend(keep)
        self._pending -= dropped
        self._check_idle()
        return dropped

    def running(self, predicate: Callable[[Delivery], bool]) -> list[asyncio.Task[None]]:
        """Tasks of lanes whose current delivery matches ``predicate``."""
        return [self._tasks[lane] for lane, d in self._running.items() if predicate(d)]

    async def wait_idle(self, timeout: float | None) -> bool:
        """Wait until nothing is pending; ``False`` if ``timeout`` ran out first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def cancel(self) -> None:
        """Cancel every lane; what was running is not acknowledged."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queues.clear()
        self._waiting.clear()
        self._running.clear()
        self._pending = 0
        self._idle.set()

    def _start(self, lane: Hashable) -> None:
        self._tasks[lane] = asyncio.get_running_loop().create_task(self._drain(lane))

    async def _drain(self, lane: Hashable) -> None:
        queue = self._queues[lane]
        handled = 0
        try:
            while queue:
                delivery = queue[0]
                self._running[lane] = delivery
                try:
                    await self._pipeline(delivery)
                except Exception:
                    logger.exception("unexpected error in the delivery pipeline; retrying")
                    await asyncio.sleep(self._error_delay)
                    continue
                queue.popleft()
                self._pending -= 1
                self._on_done(delivery)
                handled += 1
                if handled >= _FAIRNESS and self._waiting and queue:
                    self._waiting.append(lane)
                    break
        finally:
            self._running.pop(lane, None)
            del self._tasks[lane]
            if not queue and self._queues.get(lane) is queue:
                del self._queues[lane]
            self._next()
            self._check_idle()

    def _next(self) -> None:
        while self._waiting and len(self._tasks) < self._concurrency:
            lane = self._waiting.popleft()
            if lane in self._queues and lane not in self._tasks:
                self._start(lane)

    def _check_idle(self) -> None:
        if self._pending == 0:
            self._idle.set()
