"""A :class:`~cqrs_worker.Container` backed by ``di`` (``pip install 'cqrs-worker[di]'``).

Keep your ``di.Container`` and its binds as they are; :class:`DIContainer`
enters one ``di`` scope per message (``"request"`` by default, re-entered by
commands sent from an event handler) and solves handlers in it, so a
dependency cached in that scope (a session) is shared by everything that
handles the message, and a generator dependency is closed when the message is
done. Dependencies of longer-lived scopes (``"app"``) come from a scope you
entered yourself and pass as ``state=`` with its name in ``outer_scopes=``.
Solved graphs are cached per type, as ``di`` recommends (solve once, run many).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

try:
    import di
    from di.dependent import Dependent
    from di.executors import AsyncExecutor
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("cqrs_worker.contrib.di needs di: pip install 'cqrs-worker[di]'") from exc

from cqrs_worker.container import Container
from cqrs_worker.contrib._scoped import CurrentScope, ReentrantScope

__all__ = ["DIContainer"]

T = TypeVar("T")


class DIContainer:
    """Resolves handlers from a ``di.Container``, one ``di`` scope per message."""

    def __init__(
        self,
        container: di.Container,
        *,
        scope: Hashable = "request",
        outer_scopes: Sequence[Hashable] = (),
        state: di.ScopeState | None = None,
    ) -> None:
        self.container = container
        self._scope = scope
        self._scopes = (*outer_scopes, scope)
        self._outer_state = state
        self._executor = AsyncExecutor()
        self._solved: dict[Any, di.SolvedDependent[Any]] = {}
        self._current: CurrentScope = ContextVar(f"cqrs_worker_di_{id(self)}", default=None)

    async def resolve(self, type_: type[T], /) -> T:
        scope = self._current.get()
        if scope is not None:
            return await scope.resolve(type_)
        async with self.scope() as fresh:
            return await fresh.resolve(type_)

    def scope(self) -> AbstractAsyncContextManager[Container]:
        scope = self._current.get()
        return scope.reentry() if scope is not None else _DIScope(self)

    def _solve(self, type_: Any) -> di.SolvedDependent[Any]:
        solved = self._solved.get(type_)
        if solved is None:
            solved = self._solved[type_] = self.container.solve(
                Dependent(type_, scope=self._scope), scopes=self._scopes
            )
        return solved


class _DIScope(ReentrantScope):
    def __init__(self, owner: DIContainer) -> None:
        super().__init__(owner._current)
        self._owner = owner
        self._entered: AbstractAsyncContextManager[di.ScopeState] | None = None
        self._state: di.ScopeState | None = None

    async def _open(self) -> None:
        owner = self._owner
        self._entered = owner.container.enter_scope(owner._scope, owner._outer_state)
        self._state = await self._entered.__aenter__()

    async def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entered, self._entered, self._state = self._entered, None, None
        if entered is not None:
            await entered.__aexit__(exc_type, exc, tb)

    async def resolve(self, type_: type[T], /) -> T:
        if self._state is None:  # pragma: no cover - guarded by __aenter__
            raise RuntimeError("the di scope is not entered")
        solved = self._owner._solve(type_)
        result: T = await solved.execute_async(executor=self._owner._executor, state=self._state)
        return result
