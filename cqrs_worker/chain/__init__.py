"""Chain of responsibility: several handlers for one request, tried in order.

Bind the links in order, ``RequestMap.bind(Login, [ByPassword, ByToken, Refuse])``;
the :class:`~cqrs_worker.RequestMediator` builds each link in the message's
container scope, links them and sends the request to the first. A link that
takes the request answers it; one that does not passes it on with
``return await self.next(request)`` (the last link's ``next`` answers ``None``).
Events are read from every link after the chain answered, so those of the link
that handled it are dispatched as with any handler.

:func:`build_chain` links handler instances an application holds itself, and
:class:`~cqrs_worker.chain.mermaid.CoRMermaid` draws a chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Generic

from typing_extensions import TypeVar

from cqrs_worker.binding import HandlerBinding
from cqrs_worker.container import Container
from cqrs_worker.events import Event, emitted_events
from cqrs_worker.requests import Request

__all__ = ["CORRequestHandler", "HandlerChain", "build_chain"]

ReqT = TypeVar("ReqT", bound="Request[Any]", contravariant=True)
ResT = TypeVar("ResT", default=Any)


class CORRequestHandler(Generic[ReqT, ResT]):
    """One link of a chain. Subclass it and write ``handle``.

    ``handle`` either answers the request, or returns ``await self.next(request)``
    to pass it to the following link; never both.
    """

    _next_handler: CORRequestHandler[ReqT, ResT] | None = None

    def set_next(self, handler: CORRequestHandler[ReqT, ResT]) -> CORRequestHandler[ReqT, ResT]:
        """Link ``handler`` after this one (the first link set stays); returns the next link."""
        if self._next_handler is None:
            self._next_handler = handler
        return self._next_handler

    async def next(self, request: ReqT) -> ResT | None:
        """Pass ``request`` on: the next link's answer, or ``None`` after the last link."""
        if self._next_handler is None:
            return None
        return await self._next_handler.handle(request)

    async def handle(self, request: ReqT) -> ResT | None:
        """Answer ``request`` or ``return await self.next(request)``."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement handle()")


def build_chain(handlers: Sequence[CORRequestHandler[Any, Any]]) -> CORRequestHandler[Any, Any]:
    """Link ``handlers`` in order and return the first."""
    if not handlers:
        raise ValueError("build_chain() needs at least one handler")
    for current, following in itertools.pairwise(handlers):
        current.set_next(following)
    return handlers[0]


class HandlerChain(HandlerBinding):
    """The link classes bound to one request, as the RequestMap keeps them."""

    __slots__ = ("links",)

    def __init__(self, links: Sequence[type[CORRequestHandler[Any, Any]]]) -> None:
        self.links = tuple(links)

    async def build(self, container: Container) -> LinkedChain:
        """Resolve every link in ``container`` (in the active scope) and link them."""
        return LinkedChain([await container.resolve(link) for link in self.links])

    def __repr__(self) -> str:
        return f"HandlerChain({', '.join(link.__qualname__ for link in self.links)})"


class LinkedChain:
    """The resolved links of one message: ``handle`` starts at the first one."""

    __slots__ = ("_links",)

    def __init__(self, links: Sequence[CORRequestHandler[Any, Any]]) -> None:
        self._links = tuple(links)
        build_chain(self._links)

    async def handle(self, request: Request[Any]) -> Any:
        return await self._links[0].handle(request)

    @property
    def events(self) -> tuple[Event, ...]:
        """What the links emitted (usually only the one that answered emits)."""
        return tuple(event for link in self._links for event in emitted_events(link))
