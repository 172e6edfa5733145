"""The per-message scope the container adapters share.

A message gets one scope of the library's own (a dishka request, a ``di``
scope, dependency-injector's context-local values). Commands sent from an
event handler re-enter that scope instead of opening a nested one, so they
share its session; only the outermost exit closes it. Adapters subclass
:class:`ReentrantScope` and fill in :meth:`~ReentrantScope._open`,
:meth:`~ReentrantScope._close` and ``resolve``.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TypeVar

from cqrs_worker.container import Container

T = TypeVar("T")

CurrentScope = ContextVar["ReentrantScope | None"]


class ReentrantScope:
    """One message's scope; re-entered, not reopened, by nested ``scope()`` calls."""

    def __init__(self, current: CurrentScope) -> None:
        self._current = current
        self._depth = 0
        self._token: Token[ReentrantScope | None] | None = None

    def reentry(self) -> ReentrantScope:
        self._depth += 1
        return self

    def scope(self) -> AbstractAsyncContextManager[Container]:
        return self.reentry()

    async def __aenter__(self) -> Container:
        if self._token is None:
            await self._open()
            self._token = self._current.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._depth:
            self._depth -= 1
            return
        token, self._token = self._token, None
        if token is not None:
            self._current.reset(token)
        await self._close(exc_type, exc, tb)

    async def resolve(self, type_: type[T], /) -> T:
        raise NotImplementedError

    async def _open(self) -> None:
        """Open the library's scope for this message."""

    async def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the library's scope, told how the message ended."""
