"""Where broker events go once a handler has emitted them.

:class:`EventEmitter` is the protocol; the publishing side ships a direct
emitter (publish after the handler returns: at-most-once) and an outbox
emitter (write in the caller's transaction: at-least-once). The
:class:`InMemoryEventEmitter` keeps what was emitted, for tests.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from cqrs_worker.events import WireEvent

__all__ = ["EventEmitter", "InMemoryEventEmitter"]


class EventEmitter(Protocol):
    """Takes the Notification/ECST events that handlers emitted."""

    async def emit(self, event: WireEvent[Any], /) -> None: ...


class InMemoryEventEmitter:
    """Keeps the last ``maxlen`` emitted events in :attr:`events`, oldest first."""

    def __init__(self, *, maxlen: int = 10_000) -> None:
        self.events: deque[WireEvent[Any]] = deque(maxlen=maxlen)

    async def emit(self, event: WireEvent[Any], /) -> None:
        self.events.append(event)
