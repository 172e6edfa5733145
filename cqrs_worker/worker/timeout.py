"""A time limit per handling attempt: :class:`HandlerTimeouts` and :func:`limit_attempts`.

``HANDLER_TIMEOUT`` (seconds; off by default) bounds the handlers of each
attempt (inside the middlewares: a unit of work waiting for its database is
not timed out); a handler
class may carry its own ``handler_timeout`` (seconds, or ``None`` for no
limit), as it may carry a ``retry_policy``. An event with several handlers
gets the sum of their limits (they run one after another in one attempt), and
no limit if any of them has none. An attempt over its limit is cancelled and
fails with :class:`~cqrs_worker.errors.HandlerTimeoutError`, which takes the
retry path like any handler error.

Only our own deadline becomes that error: the attempt runs under
``asyncio.timeout`` and a ``TimeoutError`` counts as a timeout only when that
deadline expired. A cancellation from outside (shutdown, a revoked partition)
stays a cancellation and is never acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cqrs_worker.errors import HandlerTimeoutError
from cqrs_worker.maps import EventMap

if TYPE_CHECKING:
    from cqrs_worker.worker.delivery import Delivery

__all__ = ["HandlerTimeouts", "limit_attempts"]

Attempt = Callable[["Delivery"], Awaitable[Any]]
_UNSET = object()


class HandlerTimeouts:
    """The time limit of an attempt per event type, from the setting and handler classes."""

    def __init__(self, event_map: EventMap, default: float | None) -> None:
        self._map = event_map
        self._default = default
        self._limits: dict[type[Any], float | None] = {}

    @property
    def enabled(self) -> bool:
        """Whether any event type can have a limit (else no attempt needs wrapping)."""
        if self._default is not None:
            return True
        return any(
            getattr(handler, "handler_timeout", None) is not None
            for event_type in self._map
            for handler in self._map[event_type]
        )

    def limit(self, event_type: type[Any]) -> float | None:
        """Seconds an attempt of ``event_type`` may take, or ``None`` for no limit."""
        limit = self._limits.get(event_type, _UNSET)
        if limit is _UNSET:
            limit = self._limits[event_type] = self._compute(event_type)
        return limit  # type: ignore[return-value]  # _UNSET replaced above

    def _compute(self, event_type: type[Any]) -> float | None:
        if event_type not in self._map:
            return self._default
        total = 0.0
        for handler in self._map[event_type]:
            own = getattr(handler, "handler_timeout", self._default)
            if own is None:
                return None
            total += own
        return total


def limit_attempts(attempt: Attempt, timeouts: HandlerTimeouts) -> Attempt:
    """``attempt`` under its event type's time limit."""
    limit_of = timeouts.limit

    async def limited(delivery: Delivery) -> None:
        limit = limit_of(type(delivery.event))
        if limit is None:
            await attempt(delivery)
            return
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                await attempt(delivery)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # the attempt's own TimeoutError, not our deadline
            raise HandlerTimeoutError(
                delivery.event.event_name if delivery.event is not None else "?", limit
            ) from exc

    return limited
