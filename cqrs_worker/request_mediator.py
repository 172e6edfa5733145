"""The :class:`RequestMediator`: sends a command or query to its one handler.

The handler is built by the container inside a per-message scope (re-entered
when a command is sent from an event handler, so both share the scope). The
middleware chain wraps the whole call. After ``handle`` returns, the events
the handler emitted are dispatched through the event mediator (domain events
in-process, Notification/ECST events to the emitter) before ``send`` returns;
a handler that raises dispatches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Never, TypeVar

from cqrs_worker.container import Container
from cqrs_worker.errors import ConfigurationError, HandlerNotFoundError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import emitted_events
from cqrs_worker.maps import RequestMap
from cqrs_worker.middleware import Middleware, compose
from cqrs_worker.requests import Request

__all__ = ["RequestMediator"]

_ResultT = TypeVar("_ResultT")


class RequestMediator:
    """Sends requests to the handlers bound in a :class:`~cqrs_worker.RequestMap`."""

    def __init__(
        self,
        request_map: RequestMap,
        container: Container,
        *,
        event_mediator: EventMediator | None = None,
        middlewares: Sequence[Middleware] = (),
        **unknown: Never,
    ) -> None:
        if unknown:
            fixes = "; write event_mediator=" if "event_emitter" in unknown else ""
            raise TypeError(
                f"RequestMediator() got {', '.join(sorted(unknown))}{fixes} "
                f"(python-cqrs's call shape is cqrs_worker.mediator.RequestMediator)"
            )
        self.request_map = request_map
        self.container = container
        self.event_mediator = event_mediator
        # Handler classes only: a request bound to a HandlerBinding misses here
        # and takes the (rarer) branch that asks the binding for its handler.
        self._handler_of = request_map.handler_classes.get
        self._call = compose(middlewares, self._dispatch)

    async def send(self, request: Request[_ResultT]) -> _ResultT:
        """Handle ``request`` and return what its handler answered.

        Typed by the request: ``send(q)`` with ``class Q(Query[View])`` is a ``View``.
        """
        async with self.container.scope():
            response: _ResultT = await self._call(request)  # no cast(): this is the hot path
            return response

    async def _dispatch(self, request: Request[Any]) -> Any:
        handler_type = self._handler_of(type(request))
        handler: Any
        if handler_type is not None:
            handler = await self.container.resolve(handler_type)
        else:
            handler_type = binding = self.request_map.get(type(request))
            if binding is None:
                raise HandlerNotFoundError(
                    f"no handler is bound to {type(request).__qualname__}; "
                    f"bind one with RequestMap.bind({type(request).__qualname__}, Handler)"
                )
            handler = await binding.build(self.container)
        response = await handler.handle(request)
        events = emitted_events(handler)
        if events:
            if self.event_mediator is None:
                raise ConfigurationError(
                    f"{getattr(handler_type, '__qualname__', None) or handler_type!r} emitted "
                    f"events but the RequestMediator has no event_mediator; build it with "
                    f"bootstrap_requests()"
                )
            await self.event_mediator.dispatch_emitted(events)
        return response
