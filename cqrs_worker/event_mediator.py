"""The :class:`EventMediator`: runs every handler bound to an event.

Failure policy: every handler bound to the event runs, in bind order, even
when an earlier one raised (``max_concurrent_event_handlers`` > 1 runs up
to that many of them at once instead; the policy is the same). If any
raised, :class:`~cqrs_worker.errors.EventHandlingError` lists them all and
nothing they emitted is dispatched, so a retry of the whole event starts
clean. Handlers must therefore tolerate running again for an event they
already handled (the worker's inbox and unit of work make that
automatic for database effects).

:meth:`EventMediator.send_batch` runs a batch of events of one type the same
way: each bound handler gets the whole list through its ``handle_batch``
(a handler without one gets the events one by one through ``handle``), all in
one container scope; any failure fails the batch and nothing is emitted. The
mediator's own middlewares wrap single events only: they do not run for a batch.

Emitted follow-ups are dispatched after all handlers succeeded: a
:class:`~cqrs_worker.DomainEvent` to its own handlers (nested at most
``max_depth`` levels, against cycles), a Notification/ECST event to the
:class:`~cqrs_worker.EventEmitter`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from cqrs_worker.container import Container
from cqrs_worker.dataclass_models import DCNotificationEvent
from cqrs_worker.emitter import EventEmitter
from cqrs_worker.errors import (
    ConfigurationError,
    EventCycleError,
    EventHandlingError,
    HandlerFailure,
)
from cqrs_worker.events import Event, WireEvent, emitted_events
from cqrs_worker.maps import EventMap, HandlerBinding
from cqrs_worker.middleware import Middleware, compose

__all__ = ["EventMediator"]

# python-cqrs's dataclass notifications leave as ours (DCNotificationEvent.to_wire()).
_WIRE_TYPES = (WireEvent, DCNotificationEvent)


class EventMediator:
    """Dispatches events to the handlers bound in an :class:`~cqrs_worker.EventMap`."""

    def __init__(
        self,
        event_map: EventMap,
        container: Container,
        *,
        emitter: EventEmitter | None = None,
        middlewares: Sequence[Middleware] = (),
        max_depth: int = 8,
        max_concurrent_event_handlers: int = 1,
    ) -> None:
        if max_concurrent_event_handlers < 1:
            raise ConfigurationError(
                f"max_concurrent_event_handlers must be at least 1, "
                f"got {max_concurrent_event_handlers}"
            )
        self.event_map = event_map
        self.container = container
        self.emitter = emitter
        self._max_depth = max_depth
        self.max_concurrent_event_handlers = max_concurrent_event_handlers
        # Chosen once: the sequential default keeps its loop, with no per-event branch.
        run = self._run_handlers if max_concurrent_event_handlers == 1 else self._run_concurrently
        self._call = compose(middlewares, run)
        # The usual event: one handler the container builds bare, no middlewares.
        # Such a handler is built and run without a scope (see send()).
        bare = getattr(container, "builds_bare", None)
        self._bare: Callable[[Any], bool] | None = (
            bare if not middlewares and max_concurrent_event_handlers == 1 else None
        )
        self._batchable: dict[type[Any], bool] = {}

    async def send(self, event: Event) -> None:
        """Run every handler bound to ``event``, then dispatch what they emitted.

        Raises :class:`~cqrs_worker.errors.EventHandlingError` if any handler raised.
        """
        handler_types = self.event_map.get(type(event))
        if not handler_types:
            return  # nobody here handles it: no scope to open
        bare = self._bare
        if bare is not None and len(handler_types) == 1 and bare(handler_types[0]):
            await self._send_bare(event, handler_types[0])
            return
        async with self.container.scope():
            # What _send(event, 0) does, inline: one coroutine frame fewer per event
            # (depth 0 needs no cycle check; the map was just asked).
            emitted: Sequence[Event] = await self._call(event)
            if emitted:
                await self.dispatch_emitted(emitted)

    async def _send_bare(self, event: Event, handler_type: Any) -> None:
        """What send() does for one handler built with no arguments and no scope:
        the same outcome and errors, one scope and three coroutine frames fewer.
        What the handler emitted is dispatched in a scope of its own."""
        handler = handler_type()
        failed: Exception | None = None
        try:
            await handler.handle(event)
        except Exception as exc:
            failed = exc
        if failed is not None:  # raised here, as _run_handlers does: no chained context
            raise EventHandlingError(event, [HandlerFailure(handler_type, failed)]) from failed
        emitted = emitted_events(handler)
        if emitted:
            async with self.container.scope():
                await self.dispatch_emitted(emitted)

    def batchable(self, event_type: type[Any]) -> bool:
        """Whether a handler bound to ``event_type`` defines ``handle_batch``."""
        known = self._batchable.get(event_type)
        if known is None:
            handlers = self.event_map.get(event_type, ())
            known = any(callable(getattr(h, "handle_batch", None)) for h in handlers)
            self._batchable[event_type] = known
        return known

    @property
    def has_batch_handlers(self) -> bool:
        """Whether any bound handler defines ``handle_batch``."""
        return any(self.batchable(event_type) for event_type in self.event_map)

    async def send_batch(self, events: Sequence[Event]) -> None:
        """Run every handler bound to the type of ``events`` (all of one type) on all of
        them, in one scope: ``handle_batch(list)`` where defined, else ``handle`` per event.

        Raises :class:`~cqrs_worker.errors.EventHandlingError` (naming the first
        event) if any handler raised; then nothing emitted is dispatched.
        """
        if not events or type(events[0]) not in self.event_map:
            return
        async with self.container.scope():
            emitted: list[Event] = []
            failures: list[HandlerFailure] = []
            for handler_type in self.event_map[type(events[0])]:
                try:
                    handler = await self._build(handler_type)
                    handle_batch = getattr(handler, "handle_batch", None)
                    if handle_batch is not None:
                        await handle_batch(list(events))
                    else:
                        for event in events:
                            await handler.handle(event)
                except Exception as exc:
                    failures.append(HandlerFailure(handler_type, exc))
                    continue
                emitted.extend(emitted_events(handler))
            if failures:
                raise EventHandlingError(events[0], failures) from failures[0].exception
            if emitted:
                await self.dispatch_emitted(emitted)

    async def dispatch_emitted(self, events: Sequence[Event], depth: int = 0) -> None:
        """Dispatch events a handler emitted: domain events here, then the rest to the emitter.

        Domain events go first, so a failing domain handler stops the broker
        events of the same handler from leaving (which matters for a direct,
        at-most-once emitter).
        """
        wire = [
            event if isinstance(event, WireEvent) else event.to_wire()
            for event in events
            if isinstance(event, _WIRE_TYPES)
        ]
        if wire and self.emitter is None:
            raise ConfigurationError(
                f"a handler emitted {type(wire[0]).__qualname__} but no EventEmitter is "
                f"configured; pass emitter= (a broker or outbox emitter) to bootstrap"
            )
        for event in events:
            if not isinstance(event, _WIRE_TYPES):
                await self._send(event, depth + 1)
        for event in wire:
            await self.emitter.emit(event)  # type: ignore[union-attr]  # checked above

    async def _send(self, event: Event, depth: int) -> None:
        if depth > self._max_depth:
            raise EventCycleError(
                f"{type(event).__qualname__} was emitted {depth} levels deep; "
                f"event handlers probably emit each other's events in a cycle"
            )
        if type(event) not in self.event_map:
            return
        emitted: Sequence[Event] = await self._call(event)
        if emitted:
            await self.dispatch_emitted(emitted, depth)

    async def _build(self, handler_type: Any) -> Any:
        """One message's handler: resolved from the container, or built by its binding."""
        if isinstance(handler_type, HandlerBinding):
            return await handler_type.build(self.container)
        return await self.container.resolve(handler_type)

    async def _run_handlers(self, event: Event) -> Sequence[Event]:
        emitted: list[Event] = []
        failures: list[HandlerFailure] = []
        for handler_type in self.event_map[type(event)]:
            try:
                handler = await self._build(handler_type)
                await handler.handle(event)
            except Exception as exc:
                failures.append(HandlerFailure(handler_type, exc))
                continue
            emitted.extend(emitted_events(handler))
        if failures:
            raise EventHandlingError(event, failures) from failures[0].exception
        return emitted

    async def _run_concurrently(self, event: Event) -> Sequence[Event]:
        handler_types = self.event_map[type(event)]
        if len(handler_types) == 1:
            return await self._run_handlers(event)
        # Per event, not per mediator: the bound is on one event's handlers, and
        # follow-up events dispatched from inside a handler must not wait on it.
        gate = asyncio.Semaphore(self.max_concurrent_event_handlers)

        async def run_one(handler_type: Any) -> Sequence[Event] | HandlerFailure:
            async with gate:
                try:
                    handler = await self._build(handler_type)
                    await handler.handle(event)
                except Exception as exc:
                    return HandlerFailure(handler_type, exc)
                return emitted_events(handler)

        # Each task runs in a copy of this context: the message's container scope is shared.
        outcomes = await asyncio.gather(*(run_one(h) for h in handler_types))
        failures = [outcome for outcome in outcomes if isinstance(outcome, HandlerFailure)]
        if failures:
            raise EventHandlingError(event, failures) from failures[0].exception
        return [
            e for outcome in outcomes if not isinstance(outcome, HandlerFailure) for e in outcome
        ]
