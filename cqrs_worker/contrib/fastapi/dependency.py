"""The request mediator for route handlers, one container scope per request: :data:`Mediator`.

``mediator: Mediator`` in a route's parameters gives the app's
:class:`~cqrs_worker.RequestMediator` (configured by
:func:`~cqrs_worker.contrib.fastapi.setup`) inside a container scope that
lives as long as the route runs: every command and query the route sends
resolves its per-message dependencies in that one scope, and the next request
gets a fresh one.

With a :class:`~cqrs_worker.inbox.UnitOfWork`, the scope also holds one
database transaction (:meth:`UnitOfWork.transaction
<cqrs_worker.inbox.UnitOfWork.transaction>`): handlers ask for
``AsyncSession``, the events they emit become outbox rows in it, and it
commits when the route returns and rolls back when it raises. The commit
happens before the response is sent (a FastAPI dependency of
``scope="function"``), so a client never sees a success that did not commit.
Background tasks run after the response, outside that transaction: give them
a ``unit_of_work.transaction()`` of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox import UnitOfWork
from cqrs_worker.request_mediator import RequestMediator

__all__ = ["Mediator", "Session", "bind", "request_mediator", "request_session"]

_STATE = "cqrs_worker"


@dataclass(frozen=True, slots=True)
class Binding:
    """What :func:`setup` stored on the app."""

    mediator: RequestMediator
    unit_of_work: UnitOfWork | None

    def open(self) -> AbstractAsyncContextManager[Any]:
        if self.unit_of_work is not None:
            return self.unit_of_work.transaction()
        return self.mediator.container.scope()


def bind(app: FastAPI, binding: Binding) -> None:
    """Make ``binding`` what :data:`Mediator` gives in ``app``'s routes."""
    setattr(app.state, _STATE, binding)


def _binding(request: Request) -> Binding:
    binding = getattr(request.app.state, _STATE, None)
    if not isinstance(binding, Binding):
        raise ConfigurationError(
            "this app has no request mediator: call "
            "cqrs_worker.contrib.fastapi.setup(app, mediator=...) where the app is built"
        )
    return binding


async def request_mediator(request: Request) -> AsyncIterator[RequestMediator]:
    """The dependency behind :data:`Mediator` (tests may swap it in ``dependency_overrides``)."""
    binding = _binding(request)
    async with binding.open():
        yield binding.mediator


#: A route parameter annotated ``Mediator`` receives the request-scoped mediator.
Mediator = Annotated[RequestMediator, Depends(request_mediator, scope="function")]


async def request_session(request: Request, mediator: Mediator) -> AsyncSession:
    """The dependency behind :data:`Session`."""
    unit_of_work = _binding(request).unit_of_work
    session = unit_of_work.session() if unit_of_work is not None else None
    if session is None:
        raise ConfigurationError(
            "Session needs a unit of work: call setup(app, mediator=..., unit_of_work=...)"
        )
    return session


#: A route parameter annotated ``Session`` receives the request's ``AsyncSession``,
#: the one its commands write in (for a read in the route itself, say).
Session = Annotated[AsyncSession, Depends(request_session)]
