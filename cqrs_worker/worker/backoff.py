"""Waiting between two attempts of a delivery: :func:`backoff`.

``CONCURRENCY`` bounds the attempts *running*, not the deliveries waiting to
be tried again: a delivery sleeping in its retry backoff must not keep the
slot from the other keys, or a single failing key stalls a worker whose every
slot holds one (``CONCURRENCY=1``: everything). So the retry paths wait
through :func:`backoff`, and the :class:`~cqrs_worker.worker.lanes.Lanes`
worker running the delivery installs a hook (:func:`install`, per task) that
gives its slot away for the wait and takes one back before the next attempt.
The delivery's lane stays with it meanwhile, so per-key order holds.

Outside a lane worker (a unit test, a task a handler started) there is no
hook and :func:`backoff` is a plain :func:`asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

__all__ = ["Rest", "backoff", "install"]

#: Waits ``delay`` seconds without a concurrency slot.
Rest = Callable[[float], Awaitable[None]]

# A context variable rather than an argument: the Retrier and the batch runner
# sit several calls below the lanes, behind the user's middlewares.
_rest: ContextVar[Rest | None] = ContextVar("cqrs_worker_backoff", default=None)


def install(rest: Rest) -> None:
    """Make :func:`backoff` wait through ``rest`` in the current task (and tasks it starts)."""
    _rest.set(rest)


async def backoff(delay: float) -> None:
    """Wait ``delay`` seconds before the next attempt, holding no concurrency slot meanwhile."""
    rest = _rest.get()
    if rest is None:
        await asyncio.sleep(delay)
    else:
        await rest(delay)
