"""A :class:`~cqrs_worker.Container` backed by dishka (``pip install cqrs-worker[dishka]``).

Build your dishka container as usual, with handlers provided in
``Scope.REQUEST``; :class:`DishkaContainer` opens one request scope per message
(re-entered by commands sent from an event handler) and asks it for handlers.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

try:
    import dishka
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cqrs_worker.contrib.dishka needs dishka: pip install 'cqrs-worker[dishka]'"
    ) from exc

from cqrs_worker.container import Container
from cqrs_worker.contrib._scoped import CurrentScope, ReentrantScope

__all__ = ["DishkaContainer"]

T = TypeVar("T")


class DishkaContainer:
    """Resolves handlers from a dishka ``AsyncContainer``, one request scope per message."""

    def __init__(self, container: dishka.AsyncContainer) -> None:
        self._root = container
        self._current: CurrentScope = ContextVar(f"cqrs_worker_dishka_{id(self)}", default=None)

    async def resolve(self, type_: type[T], /) -> T:
        scope = self._current.get()
        if scope is not None:
            return await scope.resolve(type_)
        async with self.scope() as fresh:
            return await fresh.resolve(type_)

    def scope(self) -> AbstractAsyncContextManager[Container]:
        scope = self._current.get()
        return scope.reentry() if scope is not None else _DishkaScope(self)


class _DishkaScope(ReentrantScope):
    def __init__(self, owner: DishkaContainer) -> None:
        super().__init__(owner._current)
        self._root = owner._root
        self._request: AbstractAsyncContextManager[dishka.AsyncContainer] | None = None
        self._container: dishka.AsyncContainer | None = None

    async def _open(self) -> None:
        self._request = self._root()
        self._container = await self._request.__aenter__()

    async def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        request, self._request, self._container = self._request, None, None
        if request is not None:
            await request.__aexit__(exc_type, exc, tb)

    async def resolve(self, type_: type[T], /) -> T:
        if self._container is None:  # pragma: no cover - guarded by __aenter__
            raise RuntimeError("the dishka scope is not entered")
        result: Any = await self._container.get(type_)
        return result  # type: ignore[no-any-return]  # dishka's get is typed by its argument
