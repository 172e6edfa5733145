"""Batch handlers in the pipeline: the :class:`BatchRunner` behind ``handle_batch``.

The :class:`~cqrs_worker.worker.lanes.Lanes` scheduler hands a batch-enabled
pipeline the deliveries queued in one lane right now (never waiting for more,
at most ``BATCH_HANDLER_MAX``). The runner decodes them in order and cuts them
into runs of consecutive events of one type whose handlers define
``handle_batch``; anything else (another type, a malformed body, a run of one)
goes through the per-message pipeline unchanged, in its place.

A run of several is handled in one attempt (the middlewares' ``around_batch``,
e.g. one unit-of-work transaction, around
:meth:`~cqrs_worker.EventMediator.send_batch`). A failed attempt is tried once
more (unless the failure is permanent), then the run is split in halves, each
tried once and split again on failure, down to single deliveries, which take
the per-message path: in-place retries, delayed stages, dead-letter. So the
poison event alone is dead-lettered, the events before it are handled once by
their half's batch, the events after it wait their turn (per-key order) and
are handled once afterwards. The runner tells ``done`` about each finished
delivery in lane order, so the source acknowledges (commits) them as usual;
a cancelled batch tells nothing, so nothing of it is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cqrs_worker.envelope import EnvelopeCodec
from cqrs_worker.errors import ConfigurationError, HandlerTimeoutError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.middleware import Middleware
from cqrs_worker.observability.logcontext import bind as bind_log_context
from cqrs_worker.observability.logcontext import unbind as unbind_log_context
from cqrs_worker.worker.backoff import backoff
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.retry import Retrier, RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from cqrs_worker.worker.timeout import HandlerTimeouts

__all__ = ["BatchAttempt", "BatchRunner", "Done", "batch_attempt"]

logger = logging.getLogger(__name__)

Done = Callable[[Delivery], None]
BatchAttempt = Callable[[list[Delivery]], Awaitable[None]]
Pipeline = Callable[[Delivery], Awaitable[None]]


def batch_attempt(
    middlewares: Sequence[Middleware], mediator: EventMediator, timeouts: HandlerTimeouts
) -> BatchAttempt:
    """One attempt of a run: the middlewares' ``around_batch`` (first outermost) around
    ``send_batch``, the handlers bounded by the event type's handler timeout."""
    send_batch = mediator.send_batch

    async def handlers(deliveries: list[Delivery]) -> None:
        if not deliveries:  # every member was a duplicate
            return
        events: list[Any] = [d.event for d in deliveries]
        limit = timeouts.limit(type(events[0]))
        if limit is None:
            await send_batch(events)
            return
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                await send_batch(events)
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            raise HandlerTimeoutError(events[0].event_name, limit) from exc

    call: BatchAttempt = handlers
    for middleware in reversed(middlewares):
        around = getattr(middleware, "around_batch", None)
        if around is None:
            raise ConfigurationError(
                f"a handler defines handle_batch but the middleware {middleware!r} has no "
                f"around_batch(deliveries, call_next); add one or set "
                f"CQRS_WORKER_BATCH_HANDLER_MAX=1 to turn batch handlers off"
            )
        call = _bind(around, call)
    return call


def _bind(around: Any, call_next: BatchAttempt) -> BatchAttempt:
    def call(deliveries: list[Delivery]) -> Awaitable[None]:
        result: Awaitable[None] = around(deliveries, call_next)
        return result

    return call


class BatchRunner:
    """Runs a lane's queued deliveries: runs of batchable events in batches, the rest one by one."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        attempt: BatchAttempt,
        mediator: EventMediator,
        codec: EnvelopeCodec,
        retry: RetryPolicy,
        stats: WorkerStats,
        worker_id: str,
        max_size: int,
        observe: bool = True,
    ) -> None:
        self.max_size = max_size
        self._pipeline = pipeline
        self._attempt = attempt
        self._batchable = mediator.batchable
        self._decode = codec.decode
        self._retry = retry
        self._decide = Retrier(retry, stats=stats).decide
        self._stats = stats
        self._worker_id = worker_id
        self._observe = observe

    async def __call__(self, deliveries: Sequence[Delivery], done: Done) -> None:
        """Handle ``deliveries`` (one lane's, in order); ``done(d)`` for each finished one."""
        run: list[Delivery] = []
        for delivery in deliveries:
            event_type = self._peek(delivery)
            if run and event_type is not type(run[0].event):
                await self._settle(run, done, tries=2)
                run = []
            if event_type is None:
                await self._one(delivery, done)
            else:
                run.append(delivery)
                if len(run) >= self.max_size:
                    await self._settle(run, done, tries=2)
                    run = []
        if run:
            await self._settle(run, done, tries=2)

    def _peek(self, delivery: Delivery) -> type[Any] | None:
        """The event type if a batch handler takes it (the event kept), else ``None``."""
        try:
            event = self._decode(delivery.body, delivery.event_name)
        except Exception:  # DecodeError, or a bug: the per-message path deals with it
            return None
        event_type = type(event)
        if not self._batchable(event_type):
            return None
        delivery.event = event
        return event_type

    async def _one(self, delivery: Delivery, done: Done) -> None:
        # The per-message pipeline decodes from scratch: a delivery enters it as received.
        delivery.event = None
        await self._pipeline(delivery)
        done(delivery)

    async def _settle(self, run: list[Delivery], done: Done, *, tries: int) -> None:
        if len(run) == 1:
            await self._one(run[0], done)
            return
        error = await self._try(run)
        if error is None:
            finished = self._stats.finished
            for delivery in run:
                finished(delivery, "duplicate" if delivery.duplicate else "handled")
                done(delivery)
            return
        _, permanent = self._decide(error)
        if tries > 1 and not permanent:
            delay = self._retry.delay(1)
            logger.warning(
                "a batch of %d %s failed (%s: %s); retrying it in %.2fs",
                len(run),
                run[0].name,
                type(error).__name__,
                error,
                delay,
            )
            await backoff(delay)  # holding no concurrency slot meanwhile
            await self._settle(run, done, tries=tries - 1)
            return
        logger.warning(
            "a batch of %d %s failed (%s: %s); splitting it to find the failing event",
            len(run),
            run[0].name,
            type(error).__name__,
            error,
        )
        half = len(run) // 2
        await self._settle(run[:half], done, tries=1)
        await self._settle(run[half:], done, tries=1)

    async def _try(self, run: list[Delivery]) -> Exception | None:
        """One attempt of the whole run; its exception, or ``None`` when it succeeded."""
        first = run[0]
        for delivery in run:
            delivery.duplicate = False  # set again by the inbox if this attempt commits
        # Log lines name the first delivery of the batch while it runs.
        token = bind_log_context(first, self._worker_id)
        running = self._stats.in_flight.running if self._observe else None
        started = time.perf_counter()
        if running is not None:
            running[first] = started
        try:
            await self._attempt(run)
        except Exception as exc:
            return exc
        finally:
            if running is not None:
                del running[first]
                # One observation per batch attempt, labelled with the event name.
                self._stats.durations.observe(first.name or "", time.perf_counter() - started)
            unbind_log_context(token)
        return None
