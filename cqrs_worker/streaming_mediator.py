"""The :class:`StreamingRequestMediator`: a request answered by a stream of results.

The handler's ``handle`` is an async generator (a long import reporting each
row, a progress stream). The mediator opens one container scope for the whole
stream, and after each item the handler yields it dispatches the events the
handler emitted up to that item, by the same rules as
:class:`~cqrs_worker.RequestMediator` (domain events in-process,
Notification/ECST events to the emitter), before handing the item on. So a
consumer that has seen an item knows its events went out; events emitted
after the last item are dispatched when the handler returns.

Closing the stream early (``aclose()``, ``break`` inside ``contextlib.aclosing``,
or the consuming task being cancelled, as a web server does when the client
goes away) closes the handler's generator and then the scope, so per-message
resources are released at once. Middleware does not wrap a stream: a
middleware's ``call_next`` returns one result.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol, TypeVar

from cqrs_worker.container import Container
from cqrs_worker.errors import ConfigurationError, HandlerNotFoundError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import Event, emitted_events
from cqrs_worker.maps import RequestMap
from cqrs_worker.requests import Request

__all__ = ["StreamingRequestHandler", "StreamingRequestMediator"]

_ItemT = TypeVar("_ItemT")
_Req_contra = TypeVar("_Req_contra", bound="Request[Any]", contravariant=True)
_Item_co = TypeVar("_Item_co", covariant=True)


class StreamingRequestHandler(Protocol[_Req_contra, _Item_co]):
    """Answers a request with a stream: ``handle`` is an ``async def`` that yields.

    Events go on ``events`` as with any handler; those present when an item
    is yielded are dispatched before the consumer gets the item. A handler
    may also offer ``clear_events()`` (python-cqrs's shape); the mediator calls
    it after dispatching, else it remembers how many it already dispatched.
    """

    def handle(self, request: _Req_contra, /) -> AsyncIterator[_Item_co]: ...


class StreamingRequestMediator:
    """Streams the results of the handlers bound in a :class:`~cqrs_worker.RequestMap`."""

    def __init__(
        self,
        request_map: RequestMap,
        container: Container,
        *,
        event_mediator: EventMediator | None = None,
    ) -> None:
        self.request_map = request_map
        self.container = container
        self.event_mediator = event_mediator

    def stream(self, request: Request[_ItemT]) -> AsyncGenerator[_ItemT, None]:
        """The handler's results, one by one; iterate with ``async for`` (no ``await``).

        Typed by the request: ``class Import(Command[RowDone])`` streams ``RowDone``.
        Close it (``aclose()`` / ``contextlib.aclosing``) when stopping early.
        """
        return self._stream(request)

    async def _stream(self, request: Request[Any]) -> AsyncGenerator[Any, None]:
        handler_type = self.request_map.get(type(request))
        if handler_type is None:
            raise HandlerNotFoundError(
                f"no handler is bound to {type(request).__qualname__}; "
                f"bind one with RequestMap.bind({type(request).__qualname__}, Handler)"
            )
        # The scope lives in this generator's frame: it ends when the stream
        # is exhausted, closed or cancelled, not when stream() returns.
        async with self.container.scope():
            handler: Any = await self.container.resolve(handler_type)
            if not inspect.isasyncgenfunction(handler.handle):
                raise ConfigurationError(
                    f"{handler_type.__qualname__}.handle must be an async generator "
                    f"(an async def that yields) to be streamed"
                )
            items: AsyncGenerator[Any, None] = handler.handle(request)
            dispatched = 0
            try:
                async for item in items:
                    dispatched = await self._dispatch_new(handler, dispatched)
                    yield item
                await self._dispatch_new(handler, dispatched)
            finally:
                # Runs on early close and on cancellation too: the handler's own
                # finally blocks run before the scope's resources are released.
                await items.aclose()

    async def _dispatch_new(self, handler: Any, dispatched: int) -> int:
        events = emitted_events(handler)
        fresh = events[dispatched:]
        if fresh:
            await self._dispatch(handler, fresh)
        clear = getattr(handler, "clear_events", None)
        if clear is not None:
            clear()
            return 0
        return len(events)

    async def _dispatch(self, handler: Any, events: tuple[Event, ...] | Any) -> None:
        if self.event_mediator is None:
            raise ConfigurationError(
                f"{type(handler).__qualname__} emitted events but the StreamingRequestMediator "
                f"has no event_mediator; build it with bootstrap_streaming()"
            )
        await self.event_mediator.dispatch_emitted(events)
