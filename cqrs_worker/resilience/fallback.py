"""Fallback handlers: :class:`RequestHandlerFallback` and :class:`EventHandlerFallback`.

A fallback binding is bound in place of a handler (python-cqrs's shape)::

    requests.bind(GetPrice, RequestHandlerFallback(
        PriceFromService, PriceFromCache,
        failure_exceptions=(ConnectionError, TimeoutError),
        circuit_breaker=breaker,
    ))

It is a policy, not a branch in the mediators: the mediator asks the binding
for the message's handler, and gets one that runs the primary and, when the
primary raises one of ``failure_exceptions`` (any ``Exception`` if empty) or
the breaker's circuit is open, the fallback instead. Both are built by the
container in the message's scope, so the fallback shares the per-message
dependencies (a unit of work's session: the primary's failed work is still in
it). Only what the handler that answered emitted is dispatched. A primary that
raises an exception outside ``failure_exceptions`` fails the message as usual;
a failing fallback fails it too (for an event in the worker: the retry path).
Cancellation (shutdown, the worker's handler timeout) is never caught.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from cqrs_worker.container import Container
from cqrs_worker.events import Event, emitted_events
from cqrs_worker.maps import HandlerBinding
from cqrs_worker.resilience.breaker import CircuitBreaker

__all__ = ["EventHandlerFallback", "RequestHandlerFallback"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class _HandlerFallback(HandlerBinding):
    primary: type[Any]
    fallback: type[Any]
    _: KW_ONLY
    failure_exceptions: tuple[type[Exception], ...] = ()
    circuit_breaker: CircuitBreaker | None = None

    def __post_init__(self) -> None:
        kind = type(self).__name__
        if not isinstance(self.primary, type) or not isinstance(self.fallback, type):
            raise TypeError(f"{kind} takes two handler classes, the primary and the fallback")
        if self.primary is self.fallback:
            raise TypeError(f"{kind}: the fallback must be another handler than the primary")
        errors = self.failure_exceptions
        if not isinstance(errors, tuple) or not all(
            isinstance(e, type) and issubclass(e, Exception) for e in errors
        ):
            raise TypeError(f"{kind}: failure_exceptions must be a tuple of Exception classes")

    @property
    def breaker_name(self) -> str:
        """The circuit's name in the breaker: the primary's qualified name."""
        return f"{self.primary.__module__}.{self.primary.__qualname__}"

    @property
    def __name__(self) -> str:  # read by error messages that name a handler
        return f"{self.primary.__qualname__} (fallback {self.fallback.__qualname__})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__})"

    async def build(self, container: Container) -> _FallbackHandler:
        return _FallbackHandler(self, container)


class RequestHandlerFallback(_HandlerFallback):
    """Bind to a request in a :class:`~cqrs_worker.RequestMap`: the fallback answers instead."""


class EventHandlerFallback(_HandlerFallback):
    """Bind to an event in an :class:`~cqrs_worker.EventMap`: the fallback handles it instead."""


class _FallbackHandler:
    """One message's handler for a fallback binding."""

    __slots__ = ("_binding", "_container", "events")

    def __init__(self, binding: _HandlerFallback, container: Container) -> None:
        self._binding = binding
        self._container = container
        self.events: Sequence[Event] = ()

    async def handle(self, message: Any) -> Any:
        binding = self._binding
        breaker = binding.circuit_breaker
        name = binding.breaker_name
        if breaker is None or await breaker.allow(name):
            primary: Any = await self._container.resolve(binding.primary)
            try:
                result = await primary.handle(message)
            except Exception as exc:
                if breaker is not None:
                    await breaker.record_failure(name, exc)
                wanted = binding.failure_exceptions
                if wanted and not isinstance(exc, wanted):
                    raise
                logger.warning(
                    "%s failed on %s (%s: %s); %s handles it",
                    binding.primary.__qualname__,
                    type(message).__qualname__,
                    type(exc).__name__,
                    exc,
                    binding.fallback.__qualname__,
                )
            else:
                if breaker is not None:
                    await breaker.record_success(name)
                self.events = emitted_events(primary)
                return result
        else:
            logger.warning(
                "the circuit of %s is open; %s handles %s",
                binding.primary.__qualname__,
                binding.fallback.__qualname__,
                type(message).__qualname__,
            )
        fallback: Any = await self._container.resolve(binding.fallback)
        result = await fallback.handle(message)
        self.events = emitted_events(fallback)
        return result
