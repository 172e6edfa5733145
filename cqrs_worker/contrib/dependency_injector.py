"""A :class:`~cqrs_worker.Container` backed by dependency-injector.

``pip install 'cqrs-worker[dependency-injector]'``. Keep your declarative
container as it is; :class:`DependencyInjectorContainer` finds each handler's
provider by the type it provides (the exact class first, else a provider of a
subclass; nested containers included) and calls it. A handler bound to a
``Factory`` is built per message.

dependency-injector has no request scope of its own; its per-context
providers play that part. A ``ContextLocalResource`` (a session: a generator
that yields it, then commits or closes) or ``ContextLocalSingleton`` gives one
value to everything that handles a message, commands sent from an event
handler included; when the message is done the adapter shuts those resources
down and resets those singletons, so the next message gets fresh ones. A task
that a handler spawns gets its own (context-local) values, which it must
clean up itself. ``Singleton`` and ``Resource`` stay process-wide, as usual.

Hazard: dependency-injector shuts a resource down the same way whether the
message failed or not (the error is not thrown into its generator), so a
session resource must not commit in its teardown; commit in the handler or
use the unit of work, and only close there.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Generator, Iterator
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

try:
    from dependency_injector import containers, providers
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cqrs_worker.contrib.dependency_injector needs dependency-injector: "
        "pip install 'cqrs-worker[dependency-injector]'"
    ) from exc

from cqrs_worker.container import Container
from cqrs_worker.contrib._scoped import CurrentScope, ReentrantScope
from cqrs_worker.errors import ResolutionError

__all__ = ["DependencyInjectorContainer"]

T = TypeVar("T")
_WRAPPERS = (AsyncIterator, AsyncGenerator, Iterator, Generator, Awaitable)
_PER_MESSAGE = (providers.ContextLocalSingleton, providers.ContextLocalResource)


class DependencyInjectorContainer:
    """Resolves handlers from a dependency-injector container, one scope per message."""

    def __init__(self, container: containers.Container) -> None:
        self.container = container
        self._by_type: dict[type[Any], providers.Provider[Any]] = {}
        self._per_message: list[providers.Provider[Any]] = []
        self._collect(container.providers)
        self._found: dict[Any, providers.Provider[Any]] = {}
        self._current: CurrentScope = ContextVar(
            f"cqrs_worker_dependency_injector_{id(self)}", default=None
        )

    async def resolve(self, type_: type[T], /) -> T:
        if self._current.get() is None:
            async with self.scope() as fresh:
                return await fresh.resolve(type_)
        value = self._provider_of(type_)()
        if inspect.isawaitable(value):
            value = await value
        return typing.cast(T, value)

    def scope(self) -> AbstractAsyncContextManager[Container]:
        scope = self._current.get()
        return scope.reentry() if scope is not None else _Scope(self)

    async def _end_message(self) -> None:
        for provider in self._per_message:
            if isinstance(provider, providers.ContextLocalSingleton):
                provider.reset()
                continue
            done = provider.shutdown()  # type: ignore[attr-defined]  # a ContextLocalResource
            if inspect.isawaitable(done):
                await done

    def _provider_of(self, type_: Any) -> providers.Provider[Any]:
        provider = self._found.get(type_)
        if provider is None:
            provider = self._by_type.get(type_)
            if provider is None and inspect.isclass(type_):
                provider = next((p for t, p in self._by_type.items() if issubclass(t, type_)), None)
            if provider is None:
                name = getattr(type_, "__name__", repr(type_))
                raise ResolutionError(
                    f"the dependency-injector container has no provider of {name}; "
                    f"add one (providers.Factory({name}, ...))"
                )
            self._found[type_] = provider
        return provider

    def _collect(self, found: dict[str, providers.Provider[Any]]) -> None:
        for provider in found.values():
            if isinstance(provider, providers.Container):
                nested: containers.Container = provider.container
                self._collect(nested.providers)
                continue
            if isinstance(provider, _PER_MESSAGE):
                self._per_message.append(provider)
            provided = _provided_type(provider)
            if provided is not None:
                self._by_type.setdefault(provided, provider)


def _provided_type(provider: providers.Provider[Any]) -> type[Any] | None:
    cls = getattr(provider, "cls", None)
    if inspect.isclass(cls):
        return cls
    if isinstance(provider, providers.BaseResource):
        # A resource names what it provides only in its function's return hint.
        try:
            hint = typing.get_type_hints(provider.provides).get("return")
        except Exception:
            return None
        if typing.get_origin(hint) in _WRAPPERS:
            hint = typing.get_args(hint)[0] if typing.get_args(hint) else None
        return hint if inspect.isclass(hint) else None
    if isinstance(provider, providers.Object):
        value = provider.provides
        return type(value) if value is not None else None
    return None


class _Scope(ReentrantScope):
    """dependency-injector's context-local providers are the scope: nothing to open."""

    def __init__(self, owner: DependencyInjectorContainer) -> None:
        super().__init__(owner._current)
        self._owner = owner

    async def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Teardown runs with the message still current: what a resource's teardown
        # resolves or sends re-enters this scope instead of opening and ending another.
        token = self._current.set(self)
        try:
            await self._owner._end_message()
        finally:
            self._current.reset(token)

    async def resolve(self, type_: type[T], /) -> T:
        return await self._owner.resolve(type_)
