"""Requests (commands and queries), responses, and the handler protocol.

A command changes state and usually answers ``None``; a query reads and
answers a :class:`Response`. Both are :class:`Request`; the ``Command`` and
``Query`` subclasses add nothing but the intent they make visible. Parametrize a request with
what it answers, ``class ReadMeeting(Query[MeetingView])``, and
``await mediator.send(ReadMeeting(...))`` is typed ``MeetingView``; an
unparametrized request answers ``Any``.

A handler emits events by exposing them as ``events``; the
:class:`~cqrs_worker.RequestMediator` reads them after ``handle`` returns and
dispatches them, so a handler that raises publishes nothing.

Unknown fields are an error (``ConfigDict(extra="allow")`` on a class allows
them). ``RequestMap`` is also reachable here, as in python-cqrs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Protocol

import pydantic
from typing_extensions import TypeVar

if TYPE_CHECKING:
    from cqrs_worker.maps import RequestMap

__all__ = ["Command", "Query", "Request", "RequestHandler", "RequestMap", "Response"]

#: What a request answers; ``Any`` when the class does not say.
ResultT = TypeVar("ResultT", covariant=True, default=Any)
Req_contra = TypeVar("Req_contra", bound="Request[Any]", contravariant=True)
Res_co = TypeVar("Res_co", covariant=True)


class Request(pydantic.BaseModel, Generic[ResultT]):
    """A command or a query: one handler answers it, with a ``ResultT``."""

    model_config = pydantic.ConfigDict(extra="forbid")


class Response(pydantic.BaseModel):
    """What a query (or a command) answers."""


class Command(Request[ResultT], Generic[ResultT]):
    """A request that changes state (usually answering ``None``)."""


class Query(Request[ResultT], Generic[ResultT]):
    """A request that reads and answers a :class:`Response`."""


class RequestHandler(Protocol[Req_contra, Res_co]):
    """Handles one request type. Bind it with ``RequestMap.bind(Request, Handler)``.

    A handler that emits events exposes them as ``events`` (a list attribute
    or a property); handlers that emit nothing leave it out.
    """

    async def handle(self, request: Req_contra, /) -> Res_co: ...


def __getattr__(name: str) -> Any:
    # Loaded on first use: maps imports this module.
    if name == "RequestMap":
        from cqrs_worker.maps import RequestMap

        return RequestMap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
