"""Per-key ordering with bounded concurrency: the :class:`Lanes` scheduler.

Deliveries with the same ``lane`` run one after another in submission order;
different lanes run concurrently, at most ``concurrency`` at a time. Worker
tasks (at most ``concurrency``, started when lanes are ready and ended when
none are) take a ready lane and run its deliveries until it is empty, so a
batch of a thousand fresh keys costs a few dozen tasks, not a thousand. A lane
is owned by one worker at a time; after ``_FAIRNESS`` deliveries in a row it
goes to the back of the ready queue if other lanes are waiting.

``concurrency`` bounds the deliveries being *handled*, not those waiting to be
tried again: a delivery sleeping in its retry backoff
(:func:`~cqrs_worker.worker.backoff.backoff`) gives its worker's slot away,
so another worker may start for a ready lane, and takes a slot back before its
next attempt, ahead of new lanes (:mod:`cqrs_worker.worker.slots`). The
sleeping delivery keeps its lane, so the deliveries behind it still wait:
per-key order holds.

A pipeline with a ``batch`` attribute (built when a handler defines
``handle_batch``: :mod:`cqrs_worker.worker.batches`) is handed every
delivery queued in the lane at once, up to its ``max_size``, when more than one
waits; it reports each finished delivery in lane order, and each is
acknowledged then. Without one, this module runs exactly as before.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from typing import Any, cast

from cqrs_worker.worker.backoff import install as install_backoff
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.pipeline import Pipeline
from cqrs_worker.worker.slots import Slots

__all__ = ["Lanes"]

logger = logging.getLogger(__name__)

#: Deliveries a lane handles in a row before a waiting lane gets the worker.
_FAIRNESS = 256
#: Emptied lane queues kept for reuse.
_SPARE = 1024
#: Deliveries a worker finishes before it lets the event loop run other tasks.
_YIELD_EVERY = 64

Worker = asyncio.Task[None]


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
        # Set only for a pipeline with batch handlers: the per-message loop is unchanged.
        self._batch: Any = getattr(pipeline, "batch", None)
        self._on_done = on_done
        self._error_delay = error_delay
        self._queues: dict[Hashable, deque[Delivery]] = {}
        self._ready: deque[Hashable] = deque()
        # Emptied lane queues, reused: most lanes hold one delivery, and a new
        # deque costs several times what the rest of a submit does.
        self._spare: list[deque[Delivery]] = []
        self._workers: set[Worker] = set()
        self._running: dict[Worker, Delivery] = {}
        # The deliveries a worker's batch took (batch pipelines only): all count as running.
        self._groups: dict[Worker, list[Delivery]] = {}
        self._watchers: dict[Delivery, asyncio.Future[None]] = {}
        # A worker whose delivery sleeps between attempts holds no slot.
        self._slots = Slots(self._workers, concurrency=concurrency, freed=self._fill)
        self._pending = 0
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Deliveries submitted and not yet finished (queued or running)."""
        return self._pending

    @property
    def queued(self) -> int:
        """Deliveries submitted and not running yet (waiting behind their key or for a slot)."""
        return max(0, self._pending - len(self._running))

    def submit(self, delivery: Delivery) -> None:
        self._pending += 1
        if self._pending == 1:  # idle is set only while nothing is pending
            self._idle.clear()
        lane = delivery.lane
        queue = self._queues.get(lane)
        if queue is not None:
            queue.append(delivery)  # its owner or a worker to come runs it in turn
            return
        queue = self._spare.pop() if self._spare else deque()
        queue.append(delivery)
        self._queues[lane] = queue
        self._ready.append(lane)
        if len(self._workers) == len(self._running):  # no worker about to start: maybe one
            self._fill()

    def waiting_behind(self) -> Iterator[tuple[Delivery, int]]:
        """Each running delivery that others queue behind, and how many: those wait for
        their key, not for a worker."""
        queues = self._queues
        for delivery in self._running.values():
            queue = queues.get(delivery.lane)
            if queue is not None and len(queue) > 1:
                yield delivery, len(queue) - 1

    def discard(self, predicate: Callable[[Delivery], bool]) -> int:
        """Drop queued (not yet running) deliveries matching ``predicate``; they are never acked."""
        running = {id(delivery) for delivery in self._running.values()}
        for group in self._groups.values():
            running.update(id(delivery) for delivery in group)
        dropped = 0
        for queue in self._queues.values():
            head = []
            while queue and id(queue[0]) in running:  # a batch's deliveries all run
                head.append(queue.popleft())
            keep = [d for d in queue if not predicate(d)]
            dropped += len(queue) - len(keep)
            queue.clear()
            queue.extend(head + keep)
        self._pending -= dropped
        self._check_idle()
        return dropped

    async def finish(self, predicate: Callable[[Delivery], bool], timeout: float) -> int:
        """Let running deliveries matching ``predicate`` finish within ``timeout`` seconds,
        then cancel those still running (never acked; their lanes are dropped).

        Returns how many were cancelled. Queued ones are not waited for:
        :meth:`discard` them first.
        """
        targets = {w: d for w, d in self._running.items() if predicate(d)}
        if not targets:
            return 0
        loop = asyncio.get_running_loop()
        # A worker running a batch is done with it when its last delivery finished.
        ends = [self._groups[w][-1] if w in self._groups else d for w, d in targets.items()]
        waits = [self._watchers.setdefault(d, loop.create_future()) for d in ends]
        await asyncio.wait(waits, timeout=timeout)
        running = self._running
        stuck = [w for w in targets if (d := running.get(w)) is not None and predicate(d)]
        for worker in stuck:
            worker.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        for delivery in (*targets.values(), *ends):
            self._release(delivery)
        return len(stuck)

    async def wait_idle(self, timeout: float | None) -> bool:
        """Wait until nothing is pending; ``False`` if ``timeout`` ran out first."""
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a
            # cancellation that arrives as the event fires.
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def cancel(self) -> None:
        """Cancel every lane; what was running is not acknowledged."""
        self._closing = True
        try:
            workers = list(self._workers)
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self._closing = False
        self._queues.clear()
        self._ready.clear()
        self._running.clear()
        self._groups.clear()
        self._slots.clear()
        for delivery in list(self._watchers):
            self._release(delivery)
        self._pending = 0
        self._idle.set()

    # -- workers -------------------------------------------------------------

    def _fill(self) -> None:
        """Start a worker if lanes are ready and every worker is busy with a delivery.

        One at a time: a worker whose pipeline never suspends runs every ready
        lane itself, so starting more would only cost tasks. Each worker that
        starts a delivery calls this again, so suspending pipelines fan out
        to ``concurrency`` workers.
        """
        workers = self._workers
        if (
            self._ready
            and len(workers) == len(self._running)
            and self._slots.free()
            and not self._closing
        ):
            workers.add(asyncio.get_running_loop().create_task(self._work()))

    async def _work(self) -> None:
        worker = cast(Worker, asyncio.current_task())  # always run as a task
        ready, queues, running = self._ready, self._queues, self._running
        pipeline, on_done, workers = self._pipeline, self._on_done, self._workers
        spare, batch, waking = self._spare, self._batch, self._slots.waking
        # This task's retry backoffs give its slot away (a task copies its
        # creator's context, so this replaces any inherited hook).
        install_backoff(functools.partial(self._slots.rest, worker))
        since_yield = 0
        try:
            while ready and not waking:  # a woken retry waits for a slot: it gets this one
                lane = ready.popleft()
                queue = queues.get(lane)
                if not queue:  # emptied by discard()
                    if queue is not None:
                        del queues[lane]
                    continue
                handled = 0
                while queue:
                    if waking:  # a woken retry waits for a slot: the lane waits its turn
                        ready.appendleft(lane)
                        break
                    if batch is not None and len(queue) > 1:
                        ran = await self._run_batch(worker, queue)
                        if ran < 0:
                            continue  # a bug in the batch path; retried like one below
                        handled += ran
                        if handled >= _FAIRNESS and ready and queue:
                            ready.append(lane)
                            break
                        continue
                    delivery = queue[0]
                    running[worker] = delivery
                    if ready and len(workers) == len(running):
                        self._fill()
                    try:
                        await pipeline(delivery)
                    except Exception:
                        logger.exception("unexpected error in the delivery pipeline; retrying")
                        await asyncio.sleep(self._error_delay)
                        continue
                    del running[worker]
                    queue.popleft()
                    self._pending -= 1
                    on_done(delivery)
                    if self._watchers:
                        self._release(delivery)
                    handled += 1
                    since_yield += 1
                    if since_yield >= _YIELD_EVERY:
                        # Handlers that never suspend would otherwise run a whole fetch
                        # without the fetch loop and the client's I/O getting a turn.
                        since_yield = 0
                        await asyncio.sleep(0)
                    if handled >= _FAIRNESS and ready and queue:
                        ready.append(lane)
                        break
                else:
                    if queues.get(lane) is queue:
                        del queues[lane]
                        if len(spare) < _SPARE:
                            spare.append(queue)
                if not self._pending:
                    self._idle.set()
        except asyncio.CancelledError:
            self._abandon(worker)
            raise
        finally:
            workers.discard(worker)
            running.pop(worker, None)
            self._slots.grant()
            self._fill()

    async def _run_batch(self, worker: Worker, queue: deque[Delivery]) -> int:
        """Hand the lane's queued deliveries to the batch pipeline; how many finished
        (-1 after an unexpected error, logged, the unfinished ones kept in place)."""
        batch = self._batch
        group = list(itertools.islice(queue, batch.max_size))
        running, on_done = self._running, self._on_done
        running[worker] = group[0]
        self._groups[worker] = group
        if self._ready and len(self._workers) == len(running):
            self._fill()
        finished = 0

        def done(delivery: Delivery) -> None:
            nonlocal finished
            queue.popleft()  # deliveries finish in lane order: it is the head
            finished += 1
            if finished < len(group):
                running[worker] = group[finished]
            else:
                del running[worker]
            self._pending -= 1
            on_done(delivery)
            if self._watchers:
                self._release(delivery)

        try:
            await batch(group, done)
        except Exception:
            logger.exception("unexpected error in the batch pipeline; retrying")
            del self._groups[worker]
            await asyncio.sleep(self._error_delay)
            return -1
        del self._groups[worker]
        return finished

    def _abandon(self, worker: Worker) -> None:
        """A cancelled worker's lane is dropped: nothing of it is acknowledged."""
        group = self._groups.pop(worker, None)
        delivery = self._running.pop(worker, None)
        if group is not None:
            for member in group:
                self._release(member)
        if delivery is None:
            return
        queue = self._queues.get(delivery.lane)
        if queue is not None and queue and queue[0] is delivery:
            del self._queues[delivery.lane]
            self._pending -= len(queue)
        self._release(delivery)
        self._check_idle()

    def _release(self, delivery: Delivery) -> None:
        waiter = self._watchers.pop(delivery, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_idle(self) -> None:
        if self._pending == 0:
            self._idle.set()
