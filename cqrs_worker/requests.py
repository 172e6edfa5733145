"""Requests (commands and queries), responses, and the handler protocol.

A command changes state and usually answers ``None``; a query reads and
answers a :class:`Response`. Both are :class:`Request`; ``Command`` and
``Query`` are aliases that make intent visible. A handler emits events by
exposing them as ``events``; the :class:`~cqrs_worker.RequestMediator` reads
them after ``handle`` returns and dispatches them, so a handler that raises
publishes nothing.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import pydantic

__all__ = ["Command", "Query", "Request", "RequestHandler", "Response"]

Req_contra = TypeVar("Req_contra", bound="Request", contravariant=True)
Res_co = TypeVar("Res_co", covariant=True)


class Request(pydantic.BaseModel):
    """A command or a query: one handler answers it."""


class Response(pydantic.BaseModel):
    """What a query (or a command) answers."""


Command = Request
Query = Request


class RequestHandler(Protocol[Req_contra, Res_co]):
    """Handles one request type. Bind it with ``RequestMap.bind(Request, Handler)``.

    A handler that emits events exposes them as ``events`` (a list attribute
    or a property); handlers that emit nothing leave it out.
    """

    async def handle(self, request: Req_contra, /) -> Res_co: ...
