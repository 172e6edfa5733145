"""Dependency injection: the :class:`Container` protocol and a built-in one.

Mediators ask a container for handlers by type, inside a *scope* that lives as
long as one message. Scopes nest by re-entry: a command sent from an event
handler resolves in the scope the event opened, so both share per-message
dependencies such as a database session.

:class:`DefaultContainer` builds classes from their constructor type hints.
Register what it cannot guess: instances (shared by the process) and
factories (per process or per message; an async generator factory is closed
when its scope ends). A value that exists only while one message is handled
(the unit of work's database session) is put into the active scope with
:meth:`DefaultContainer.provide`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, cast

from cqrs_worker.errors import ResolutionError

__all__ = ["Container", "DefaultContainer"]

T = TypeVar("T")
Lifetime = Literal["process", "message"]


class Container(Protocol):
    """What mediators need from a dependency-injection container."""

    async def resolve(self, type_: type[T], /) -> T:
        """Return an instance of ``type_``."""
        ...

    def scope(self) -> AbstractAsyncContextManager[Container]:
        """Enter a per-message scope, or re-enter the one already active."""
        ...


class _Param(typing.NamedTuple):
    name: str
    type_: Any
    has_default: bool


class _Factory(typing.NamedTuple):
    call: Callable[..., Any]
    params: tuple[_Param, ...]
    lifetime: Lifetime


def _plan(call: Callable[..., Any], owner: str) -> tuple[_Param, ...]:
    target = call.__init__ if inspect.isclass(call) else call
    if target is object.__init__:
        return ()
    try:
        hints = typing.get_type_hints(target)
    except Exception as exc:
        raise ResolutionError(f"cannot read the type hints of {owner}: {exc}") from exc
    params = []
    for name, param in inspect.signature(call).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        has_default = param.default is not param.empty
        if name not in hints and not has_default:
            raise ResolutionError(
                f"parameter {name!r} of {owner} has no type hint; annotate it "
                f"or register a factory for {owner}"
            )
        params.append(_Param(name, hints.get(name), has_default))
    return tuple(params)


class DefaultContainer:
    """Builds handlers and their dependencies from constructor type hints."""

    def __init__(self) -> None:
        self._instances: dict[Any, Any] = {Container: None}
        self._factories: dict[Any, _Factory] = {}
        self._plans: dict[Any, tuple[_Param, ...]] = {}
        # Classes built with no arguments, neither registered nor cached: resolved
        # without entering the scope's lookup (the usual handler).
        self._plain: set[Any] = set()
        # Process-lifetime generators stay referenced: if one were collected,
        # asyncio would close it and tear down an instance still in use.
        self._open: list[AsyncGenerator[Any, None]] = []
        self._current: ContextVar[_Scope | None] = ContextVar(
            f"cqrs_worker_scope_{id(self)}", default=None
        )

    def register_instance(self, type_: type[T], instance: T) -> None:
        """Resolve ``type_`` to this very object everywhere."""
        self._instances[type_] = instance
        self._plain.discard(type_)

    def register_factory(
        self,
        type_: type[T],
        factory: Callable[..., T]
        | Callable[..., typing.Awaitable[T]]
        | Callable[..., AsyncIterator[T]],
        *,
        lifetime: Lifetime = "message",
    ) -> None:
        """Build ``type_`` with ``factory``, whose parameters are resolved by type.

        ``lifetime="message"`` builds one per scope, ``"process"`` one in all.
        An async generator factory yields the instance and is closed when the
        scope ends (for ``"process"``: never by the container, which keeps it
        open; ``asyncio.run`` closes it when the loop shuts down).
        """
        params = _plan(factory, getattr(factory, "__qualname__", repr(factory)))
        self._factories[type_] = _Factory(factory, params, lifetime)
        self._plain.discard(type_)

    def provide(self, type_: type[T], value: T) -> None:
        """Resolve ``type_`` to ``value`` until the active scope ends.

        For what exists only during one message, such as the unit of work's
        session. Raises :class:`~cqrs_worker.errors.ResolutionError` outside a scope.
        """
        scope = self._current.get()
        if scope is None:
            raise ResolutionError(
                f"cannot provide {_name(type_)} outside a scope; "
                f"call provide() inside `async with container.scope():`"
            )
        scope._cache[type_] = value

    async def resolve(self, type_: type[T], /) -> T:
        scope = self._current.get()
        if scope is not None:
            if type_ in self._plain and type_ not in scope._cache:
                return type_()
            return cast(T, await scope._get(type_, ()))
        async with _Scope(self) as fresh:
            return await fresh.resolve(type_)

    def scope(self) -> AbstractAsyncContextManager[Container]:
        scope = self._current.get()
        if scope is not None:
            return _Reentry(scope)
        return _Scope(self)

    def builds_bare(self, type_: Any) -> bool:
        """Whether ``type_`` is built with no arguments and no scope is open here.

        Such a handler gets nothing from a scope, so a mediator may build it
        without opening one (the usual handler: one scope fewer per message).
        Known only once the type was resolved through a scope the first time.
        """
        return type_ in self._plain and self._current.get() is None

    def _params_of(self, type_: Any, chain: tuple[Any, ...]) -> tuple[_Param, ...]:
        params = self._plans.get(type_)
        if params is None:
            if not inspect.isclass(type_) or type_.__module__ == "builtins":
                needed = f" (needed by {_path(chain)})" if chain else ""
                raise ResolutionError(
                    f"cannot build {_name(type_)}{needed}: register an instance or a factory for it"
                )
            params = self._plans[type_] = _plan(type_, type_.__qualname__)
        return params


class _Reentry:
    __slots__ = ("_scope",)

    def __init__(self, scope: _Scope) -> None:
        self._scope = scope

    async def __aenter__(self) -> Container:
        return self._scope

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class _Scope:
    """One message's worth of dependencies."""

    __slots__ = ("_cache", "_cleanups", "_owner", "_token")

    def __init__(self, owner: DefaultContainer) -> None:
        self._owner = owner
        self._cache: dict[Any, Any] = {}
        self._cleanups: list[AsyncGenerator[Any, None]] = []

    async def __aenter__(self) -> Container:
        self._token = self._owner._current.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._current.reset(self._token)
        while self._cleanups:
            generator = self._cleanups.pop()
            if exc is None:
                await anext(generator, None)
            else:
                await generator.aclose()

    def scope(self) -> AbstractAsyncContextManager[Container]:
        return _Reentry(self)

    async def resolve(self, type_: type[T], /) -> T:
        return cast(T, await self._get(type_, ()))

    async def _get(self, type_: Any, chain: tuple[Any, ...]) -> Any:
        owner = self._owner
        if type_ in owner._instances:
            instance = owner._instances[type_]
            return self if instance is None and type_ is Container else instance
        if type_ in self._cache:
            return self._cache[type_]
        if type_ in chain:
            raise ResolutionError(f"dependency cycle: {_path((*chain, type_))}")
        factory = owner._factories.get(type_)
        if factory is not None:
            value = await self._make(factory, (*chain, type_))
            if factory.lifetime == "process":
                owner._instances[type_] = value
            else:
                self._cache[type_] = value
            return value
        params = owner._params_of(type_, chain)
        if not params:  # a handler without dependencies
            owner._plain.add(type_)
            return type_()
        return type_(**await self._kwargs(params, (*chain, type_)))

    async def _make(self, factory: _Factory, chain: tuple[Any, ...]) -> Any:
        value = factory.call(**await self._kwargs(factory.params, chain))
        if inspect.isasyncgen(value):
            generator = cast(AsyncGenerator[Any, None], value)
            value = await anext(generator)
            if factory.lifetime == "process":
                self._owner._open.append(generator)
            else:
                self._cleanups.append(generator)
        elif inspect.isawaitable(value):
            value = await value
        return value

    async def _kwargs(self, params: tuple[_Param, ...], chain: tuple[Any, ...]) -> dict[str, Any]:
        kwargs = {}
        for param in params:
            if param.type_ is None or (param.has_default and not self._can_resolve(param.type_)):
                continue
            try:
                kwargs[param.name] = await self._get(param.type_, chain)
            except ResolutionError:
                if not param.has_default:
                    raise
        return kwargs

    def _can_resolve(self, type_: Any) -> bool:
        owner = self._owner
        return (
            type_ in owner._instances
            or type_ in owner._factories
            or (inspect.isclass(type_) and type_.__module__ != "builtins")
        )


def _name(type_: Any) -> str:
    return getattr(type_, "__qualname__", None) or repr(type_)


def _path(chain: tuple[Any, ...]) -> str:
    return " -> ".join(_name(t) for t in chain)
